"""Training entry point: `digits-train [overrides]` (or `python -m digits.train`).

compose (Hydra) -> data -> pipeline -> model -> fit -> evaluate -> artefacts in the run folder.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from pathlib import Path

import hydra
import keras
import numpy as np
import tensorflow as tf
from hydra import compose
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, MissingMandatoryValue, OmegaConf

from digits import evaluate
from digits.utils import atomic
from digits.data import augment
from digits.runs import backup
from digits.config import schemas
from digits.data import datasets
from digits.training import distribute
from digits.utils import keras_compat
from digits.models import model_files
from digits.models import classifiers
from digits.data import pipeline
from digits.evaluation import plots
from digits.training import train_numbers
from digits.training import trainer
from digits.training import debug_modes
from digits.training import loggers
from digits.training import mlflow_logger
from digits.config import run_options
from digits.vision import mnist_style
from digits.runs.run_folder import RunFolderError, claim_run_folder

log = logging.getLogger("digits.train")
schemas.register_configs()

EVAL_BATCH_SIZE = 512
AUGMENTATION_SAMPLES = 32


def save_figures(run_dir: Path, history: dict, augmentation: keras.Sequential,
                 splits: datasets.Splits, test: dict) -> None:
    """plots/*.png, also as images in TensorBoard: curves, augmentation and test-set figures."""
    writer = tf.summary.create_file_writer(str(run_dir / "tensorboard" / "figures"))
    plots.save(plots.curves(history), run_dir / "plots" / "curves.png", writer)
    samples = pipeline.normalise(splits.x_train[:AUGMENTATION_SAMPLES])
    if augmentation.layers:
        samples = augmentation(samples, training=True)
    plots.save(plots.image_grid(np.asarray(samples), title="augmented training images"),
               run_dir / "plots" / "augmentation.png", writer)
    writer.close()
    evaluate.write_figures(test, splits.x_test, splits.y_test, run_dir)


def run_training(cfg: schemas.TrainConfig, run_dir: Path,
                 logger_callbacks: list | None = None) -> dict:
    """Train one model as `cfg` says; write every artefact to `run_dir`; return the metrics.
    `logger_callbacks`: the logger group's (digits.training.loggers; None: TensorBoard)."""
    keras_compat.check_keras_version()  # its work-arounds hold for the checked versions only
    # First: MultiWorkerMirroredStrategy must configure collectives before TensorFlow runs an op.
    strategy = distribute.make_strategy(cfg.trainer.strategy)
    keras.backend.clear_session()  # jobs of a multirun share the process: start clean
    training_seed = cfg.training_seed
    keras.utils.set_random_seed(training_seed)
    splits = datasets.load(cfg.data, cfg.seed)
    log.info("data: %d train, %d validation, %d test images", len(splits.x_train),
             len(splits.x_val), len(splits.x_test))
    augmentation = augment.build(cfg.augmentation, seed=training_seed)
    global_batch = cfg.trainer.batch_size * strategy.num_replicas_in_sync
    steps = pipeline.steps_per_epoch(len(splits.x_train), global_batch)
    resume = backup.last_good_state(run_dir)  # a killed run's last finished epoch, if any
    one_hot = bool(cfg.trainer.label_smoothing)  # what trainer.compile_model's loss takes
    train_ds = distribute.shard_by_data(pipeline.training_dataset(
        splits.x_train, splits.y_train, global_batch, training_seed, augmentation, one_hot,
        first_epoch=resume.epoch if resume else 0))
    val_ds = distribute.shard_by_data(
        pipeline.evaluation_dataset(splits.x_val, splits.y_val, EVAL_BATCH_SIZE, one_hot))

    with trainer.precision(cfg.trainer):
        with strategy.scope():
            model = trainer.starting_model(cfg.trainer, lambda: classifiers.build(cfg.model))
            distribute.synchronise_batch_norm(model, strategy)
            trainer.compile_model(model, cfg.trainer, steps_per_epoch=steps)
        log.info("strategy %s: %d replicas, global batch %d", cfg.trainer.strategy,
                 strategy.num_replicas_in_sync, global_batch)
        log.info("model %s: %d parameters (%d trainable)", model.name, model.count_params(),
                 sum(int(np.prod(w.shape)) for w in model.trainable_weights))
        before = None
        if cfg.trainer.init_from:
            before = evaluate.evaluate(model, splits.x_test, splits.y_test)["test_accuracy"]
            log.info("before training: test accuracy %.4f", before)
        history, train_seconds = trainer.fit(model, train_ds, val_ds, cfg.trainer, run_dir,
                                             resume, training_seed, loggers=logger_callbacks,
                                             debug=cfg.debug)

    model = trainer.with_dtype_policy(model, "float32")  # what is measured is what is saved
    test = evaluate.evaluate(model, splits.x_test, splits.y_test)
    metrics = {
        "test_accuracy": test["test_accuracy"],
        "test_loss": test["test_loss"],
        "inverted_test_accuracy": test["inverted_test_accuracy"],
        "expected_calibration_error": test["expected_calibration_error"],
        **kept_weights_metrics(model, cfg, history, splits),
        "best_val_accuracy": float(max(history["val_accuracy"])),
        "epochs": len(history["loss"]),
        "train_seconds": round(train_seconds, 2),
        "parameters": model.count_params(),
        "preprocessing_version": mnist_style.PREPROCESSING_VERSION,  # what inputs went through
    }
    if before is not None:
        metrics["initial_test_accuracy"] = before
    metrics["model"] = trained_architecture(model, cfg)
    atomic.save_model(model, run_dir / "model.keras")
    # The augmentation is not saved as a model: its fused RandomAffine is digits' own layer, which
    # plain Keras cannot load; .hydra/config.yaml describes it and plots/augmentation.png shows it.
    save_figures(run_dir, history, augmentation, splits, test)
    trainer.finish_run(run_dir, cfg, metrics)
    return metrics


def kept_weights_metrics(model: keras.Model, cfg: schemas.TrainConfig, history: dict,
                         splits: datasets.Splits) -> dict:
    """What model.keras holds: which weights, from which epoch, and their validation accuracy,
    measured again on the validation split (averaged weights were never validated in training)."""
    weights, epoch = trainer.kept_weights(cfg.trainer, history)
    predicted = evaluate.predict_probabilities(model, splits.x_val).argmax(axis=1)
    kept = {"weights": weights, "weights_epoch": epoch,
            "val_accuracy": float((predicted == splits.y_val).mean())}
    if weights == "best_epoch":
        kept["best_epoch"] = epoch
    return kept


def trained_architecture(model: keras.Model, cfg: schemas.TrainConfig) -> dict:
    """The model actually trained: the model group's, or with trainer.init_from the loaded one
    (the model group is then unused)."""
    if cfg.trainer.init_from:
        return {"name": model.name, "init_from": str(model_files.resolve(cfg.trainer.init_from)),
                "freeze_features": cfg.trainer.freeze_features}
    return {"name": model.name, "config": dataclasses.asdict(cfg.model)}


def resumed_config(run_dir: Path) -> DictConfig:
    """The config a run in `run_dir` was started with, composed again from its saved overrides."""
    overrides = run_dir / ".hydra" / "overrides.yaml"
    if not overrides.is_file():
        raise RunFolderError(f"cannot resume {run_dir}: it is not a run folder "
                             "(no .hydra/overrides.yaml)")
    return compose("train", overrides=list(OmegaConf.load(overrides)))


def stop(message: str, status: int) -> float:
    """End a failed run: in a single run exit with `status`; in a multirun let the other jobs go
    on (the job's folder has no metrics.json, which digits-report lists as failed)."""
    log.error("%s", message)
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        return float("nan")
    sys.exit(status)


def sweep_folder() -> Path | None:
    """A multirun's folder (its jobs share one MLflow experiment); None for a single run."""
    hydra_cfg = HydraConfig.get()
    return Path(hydra_cfg.sweep.dir) if hydra_cfg.mode == RunMode.MULTIRUN else None


@hydra.main(version_base="1.3", config_path="pkg://digits.conf", config_name="train")
def main(cfg: DictConfig) -> float:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    for warning in schemas.renamed_option_warnings(HydraConfig.get().runtime.choices):
        log.warning(warning)
    try:
        if cfg.resume:
            run_dir = Path(cfg.resume)
            cfg = resumed_config(run_dir)
        train_cfg = schemas.to_objects(cfg)
        numbers = isinstance(train_cfg.data, schemas.NumbersDataConfig)
        if train_cfg.paths.cache:  # read where the data modules look: $DIGITS_CACHE
            os.environ[run_options.CACHE_VARIABLE] = str(train_cfg.paths.cache_folder())
        with loggers.open_loggers(train_cfg, run_dir, HydraConfig.get().runtime.choices,
                                  sweep_folder()) as run_loggers, claim_run_folder(run_dir):
            metrics = (train_numbers.run_training if numbers else run_training)(
                train_cfg, run_dir, run_loggers.callbacks())
            run_loggers.finish(metrics)
    except (schemas.ConfigError, datasets.DataError, RunFolderError, model_files.ModelLoadError,
            keras_compat.KerasVersionError, mlflow_logger.MlflowUnreachable) as error:
        return stop(str(error), 2)
    except MissingMandatoryValue as error:  # a group removed from the command, e.g. ~data
        return stop(f"{error.full_key} is required: add {error.full_key}=... to the command", 2)
    except (trainer.TrainingDiverged, debug_modes.OverfitFailed) as error:
        return stop(str(error), 3)
    except KeyboardInterrupt:
        log.error("interrupted: every finished epoch is saved; run the same command again, or "
                  "digits-train resume=%s, to go on", run_dir)
        sys.exit(130)
    except OSError as error:  # unwritable folder, full disk
        return stop(f"cannot write the run's files in {run_dir}: {error}", 1)
    if numbers:
        log.info("test exact-number accuracy %.4f (CER %.4f), %d epochs, %.0f s",
                 metrics["test_exact_accuracy"], metrics["test_cer"], metrics["epochs"],
                 metrics["train_seconds"])
        print(f"Run folder: {run_dir}")
        return metrics[train_cfg.optimized_metric]
    if "initial_test_accuracy" in metrics:
        log.info("test accuracy before training %.4f", metrics["initial_test_accuracy"])
    log.info("test accuracy %.4f (inverted %.4f), %d epochs, %.0f s", metrics["test_accuracy"],
             metrics["inverted_test_accuracy"], metrics["epochs"], metrics["train_seconds"])
    print(f"Run folder: {run_dir}")
    return metrics[train_cfg.optimized_metric]


if __name__ == "__main__":
    main()
