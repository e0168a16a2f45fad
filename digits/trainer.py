"""The trainer config group: optimiser, loss, callbacks and the fit loop."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import keras
import tensorflow as tf

from digits.config import Optimizer, Schedule, TrainerConfig


@keras.saving.register_keras_serializable(package="digits")
class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy with label smoothing for integer labels (Keras 3's sparse loss lacks it)."""

    def __init__(self, label_smoothing=0.0, num_classes=10, name="smoothed_crossentropy",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing
        self.num_classes = num_classes

    def call(self, y_true, y_pred):
        one_hot = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"),
                                    self.num_classes)
        return keras.losses.categorical_crossentropy(one_hot, y_pred,
                                                     label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing,
                "num_classes": self.num_classes}


def learning_rate(cfg: TrainerConfig, steps_per_epoch: int | None):
    """A float, or a warm-up + cosine schedule over the whole run (needs steps_per_epoch)."""
    if cfg.schedule is not Schedule.cosine:
        return cfg.learning_rate
    if not steps_per_epoch:
        raise ValueError("trainer.schedule=cosine needs the number of steps per epoch")
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else cfg.learning_rate, cfg.epochs * steps_per_epoch - warmup,
        warmup_target=cfg.learning_rate if warmup else None, warmup_steps=warmup)


def make_optimizer(cfg: TrainerConfig, steps_per_epoch: int | None = None):
    rate = learning_rate(cfg, steps_per_epoch)
    if cfg.optimizer is Optimizer.adam:
        return keras.optimizers.Adam(rate)
    if cfg.optimizer is Optimizer.adamw:
        return keras.optimizers.AdamW(rate, weight_decay=cfg.weight_decay)
    return keras.optimizers.SGD(rate, momentum=0.9, nesterov=True)


def compile_model(model: keras.Model, cfg: TrainerConfig,
                  steps_per_epoch: int | None = None) -> None:
    loss = (SparseSmoothedCrossentropy(cfg.label_smoothing) if cfg.label_smoothing
            else "sparse_categorical_crossentropy")
    model.compile(optimizer=make_optimizer(cfg, steps_per_epoch), loss=loss, metrics=["accuracy"],
                  jit_compile="auto" if cfg.jit_compile is None else cfg.jit_compile,
                  steps_per_execution=cfg.steps_per_execution)


@contextmanager
def precision(cfg: TrainerConfig):
    """Build and train under mixed_float16 when asked; always restore the previous policy."""
    previous = keras.mixed_precision.global_policy()
    if cfg.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def make_callbacks(cfg: TrainerConfig, run_dir: Path) -> list[keras.callbacks.Callback]:
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv")),
        keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard"), update_freq="epoch",
                                    write_graph=False),
        keras.callbacks.ModelCheckpoint(str(run_dir / "checkpoints" / "best.keras"),
                                        monitor=cfg.early_stopping.monitor, save_best_only=True),
    ]
    if cfg.schedule is Schedule.plateau:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor=cfg.early_stopping.monitor, factor=cfg.plateau_factor,
            patience=cfg.plateau_patience, verbose=1))
    if cfg.early_stopping.enabled:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=cfg.early_stopping.monitor, patience=cfg.early_stopping.patience,
            restore_best_weights=cfg.early_stopping.restore_best_weights, verbose=1))
    return callbacks


def fit(model: keras.Model, train: tf.data.Dataset, val: tf.data.Dataset, cfg: TrainerConfig,
        run_dir: Path) -> tuple[dict[str, list[float]], float]:
    """Train; return the per-epoch history and the wall time of fitting in seconds."""
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    history = model.fit(train, validation_data=val, epochs=cfg.epochs, shuffle=False,
                        callbacks=make_callbacks(cfg, run_dir), verbose=cfg.verbose)
    return history.history, time.perf_counter() - start


def best_epoch(history: dict[str, list[float]], monitor: str) -> int:
    """0-based epoch whose weights EarlyStopping(restore_best_weights) keeps."""
    values = history[monitor]
    pick = min if monitor.endswith("loss") else max
    return values.index(pick(values))
