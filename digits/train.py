"""Training entry point: `digits-train [overrides]` (or `python -m digits.train`).

compose (Hydra) -> data -> pipeline -> model -> fit -> evaluate -> artefacts in the run folder.
"""

from __future__ import annotations

import fcntl
import json
import logging
import sys
from contextlib import contextmanager
from pathlib import Path

import hydra
import keras
import numpy as np
import tensorflow as tf
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from digits import augment, config, data, distribute, models, pipeline, plots, trainer

log = logging.getLogger("digits.train")
config.register_configs()

EVAL_BATCH_SIZE = 512
AUGMENTATION_SAMPLES = 32


class RunFolderError(RuntimeError):
    """The run folder is in use by another run, or already holds a finished one."""


@contextmanager
def claim_run_folder(run_dir: Path):
    """Hold an exclusive lock on the run folder for the run's lifetime.

    The lock dies with the process (even on SIGKILL), so a killed run's folder can be reused,
    while two live runs, or a finished run, are never written over.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    if (run_dir / "metrics.json").exists():
        raise RunFolderError(f"{run_dir} already holds a finished run; choose another folder "
                             "(hydra.run.dir=DIR) or delete it")
    with open(run_dir / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunFolderError(f"{run_dir} is in use by another run") from None
        yield


def evaluate(model: keras.Model, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(loss, accuracy) on uint8 images."""
    loss, accuracy = model.evaluate(pipeline.evaluation_dataset(x, y, EVAL_BATCH_SIZE), verbose=0)
    return float(loss), float(accuracy)


def save_augmentation_samples(augmentation: keras.Sequential, x: np.ndarray, path: Path,
                              writer) -> None:
    images = pipeline.normalise(x[:AUGMENTATION_SAMPLES])
    if augmentation.layers:
        images = augmentation(images, training=True)
    plots.save(plots.image_grid(np.asarray(images), title="augmented training images"), path,
               writer)


def run_training(cfg: config.TrainConfig, run_dir: Path) -> dict:
    """Train one model as `cfg` says; write every artefact to `run_dir`; return the metrics."""
    # First: MultiWorkerMirroredStrategy must configure collectives before TensorFlow runs an op.
    strategy = distribute.make_strategy(cfg.trainer.strategy)
    keras.utils.set_random_seed(cfg.seed)
    splits = data.load(cfg.data, cfg.seed)
    log.info("data: %d train, %d validation, %d test images", len(splits.x_train),
             len(splits.x_val), len(splits.x_test))
    augmentation = augment.build(cfg.augmentation, seed=cfg.seed)
    global_batch = cfg.trainer.batch_size * strategy.num_replicas_in_sync
    train_ds = distribute.shard_by_data(pipeline.training_dataset(
        splits.x_train, splits.y_train, global_batch, cfg.seed, augmentation))
    val_ds = distribute.shard_by_data(
        pipeline.evaluation_dataset(splits.x_val, splits.y_val, EVAL_BATCH_SIZE))

    with strategy.scope():
        model = models.build(cfg.model)
        trainer.compile_model(model, cfg.trainer)
    log.info("strategy %s: %d replicas, global batch %d", cfg.trainer.strategy,
             strategy.num_replicas_in_sync, global_batch)
    log.info("model %s: %d parameters", cfg.model.name, model.count_params())
    history, train_seconds = trainer.fit(model, train_ds, val_ds, cfg.trainer, run_dir)

    test_loss, test_accuracy = evaluate(model, splits.x_test, splits.y_test)
    inv_loss, inv_accuracy = evaluate(model, pipeline.invert(splits.x_test), splits.y_test)
    best = trainer.best_epoch(history, cfg.trainer.early_stopping.monitor)
    metrics = {
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "inverted_test_accuracy": inv_accuracy,
        "inverted_test_loss": inv_loss,
        "val_accuracy": float(history["val_accuracy"][best]),
        "best_val_accuracy": float(max(history["val_accuracy"])),
        "epochs": len(history["loss"]),
        "best_epoch": best,
        "train_seconds": round(train_seconds, 2),
        "parameters": model.count_params(),
    }
    model.save(run_dir / "model.keras")
    augmentation.save(run_dir / "augmentation.keras")

    writer = tf.summary.create_file_writer(str(run_dir / "tensorboard" / "figures"))
    plots.save(plots.curves(history), run_dir / "plots" / "curves.png", writer)
    save_augmentation_samples(augmentation, splits.x_train, run_dir / "plots" /
                              "augmentation.png", writer)
    writer.close()
    # metrics.json last: its presence marks the run as finished.
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


@hydra.main(version_base="1.3", config_path="pkg://digits.conf", config_name="train")
def main(cfg: DictConfig) -> float:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        train_cfg = config.to_objects(cfg)
        with claim_run_folder(run_dir):
            metrics = run_training(train_cfg, run_dir)
    except (config.ConfigError, data.DataError, RunFolderError) as error:
        log.error("%s", error)
        sys.exit(2)
    log.info("test accuracy %.4f (inverted %.4f), %d epochs, %.0f s", metrics["test_accuracy"],
             metrics["inverted_test_accuracy"], metrics["epochs"], metrics["train_seconds"])
    print(f"Run folder: {run_dir}")
    return metrics["best_val_accuracy"]


if __name__ == "__main__":
    main()
