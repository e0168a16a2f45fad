"""Training a single-digit reader: `digits-train` with a digit model (mlp, cnn, ...).

data -> the training pipeline (training_batches) -> model -> fit (trainer.fit) -> measured on the
test split -> model.keras, plots/ and metrics.json in the run folder.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from digits.evaluation import scores
from digits.models import inference
from digits.config import schemas
from digits.data import augment
from digits.data import datasets
from digits.data import pipeline
from digits.data import training_batches
from digits.evaluation import figure_log, plots
from digits.models import classifiers
from digits.models import model_files
from digits.runs import backup
from digits.training import distribute
from digits.training import trainer
from digits.utils import atomic
from digits.utils import keras_compat
from digits.vision import mnist_style

log = logging.getLogger("digits.train")

EVAL_BATCH_SIZE = 512
AUGMENTATION_SAMPLES = 32


def save_figures(run_dir: Path, history: dict, augmentation: keras.Sequential,
                 splits: datasets.Splits, test: dict) -> None:
    """plots/*.png, also as images in TensorBoard: curves, augmentation and test-set figures."""
    writer = tf.summary.create_file_writer(str(run_dir / "tensorboard" / "figures"))
    figure_log.save(plots.curves(history), run_dir / "plots" / "curves.png", writer)
    samples = pipeline.normalise(splits.x_train[:AUGMENTATION_SAMPLES])
    if augmentation.layers:
        samples = augmentation(samples, training=True)
    figure_log.save(plots.image_grid(np.asarray(samples), title="augmented training images"),
               run_dir / "plots" / "augmentation.png", writer)
    writer.close()
    scores.write_figures(test, splits.x_test, splits.y_test, run_dir)


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
    train_ds = distribute.shard_by_data(training_batches.training_dataset(
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
            before = scores.evaluate(model, splits.x_test, splits.y_test)["test_accuracy"]
            log.info("before training: test accuracy %.4f", before)
        history, train_seconds = trainer.fit(model, train_ds, val_ds, cfg.trainer, run_dir,
                                             resume, training_seed, loggers=logger_callbacks,
                                             debug=cfg.debug)

    model = trainer.with_dtype_policy(model, "float32")  # what is measured is what is saved
    test = scores.evaluate(model, splits.x_test, splits.y_test)
    metrics = {
        "test_accuracy": test["test_accuracy"],
        "test_loss": test["test_loss"],
        "inverted_test_accuracy": test["inverted_test_accuracy"],
        "expected_calibration_error": test["expected_calibration_error"],
        **trainer.kept_weights_metrics(cfg.trainer, history,
                                       {"val_accuracy": validation_accuracy(model, splits)}),
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


def validation_accuracy(model: keras.Model, splits: datasets.Splits) -> float:
    """The model's accuracy on the validation split, as it is now."""
    predicted = inference.predict(model, splits.x_val).argmax(axis=1)
    return float((predicted == splits.y_val).mean())


def trained_architecture(model: keras.Model, cfg: schemas.TrainConfig) -> dict:
    """The model actually trained: the model group's, or with trainer.init_from the loaded one
    (the model group is then unused)."""
    if cfg.trainer.init_from:
        return {"name": model.name, "init_from": str(model_files.resolve(cfg.trainer.init_from)),
                "freeze_features": cfg.trainer.freeze_features}
    return {"name": model.name, "config": dataclasses.asdict(cfg.model)}
