"""The trainer config group: optimiser, loss, callbacks and the fit loop."""

from __future__ import annotations

import time
from pathlib import Path

import keras
import tensorflow as tf

from digits.config import Optimizer, TrainerConfig


def make_optimizer(cfg: TrainerConfig) -> keras.optimizers.Optimizer:
    if cfg.optimizer is Optimizer.adam:
        return keras.optimizers.Adam(cfg.learning_rate)
    if cfg.optimizer is Optimizer.adamw:
        return keras.optimizers.AdamW(cfg.learning_rate, weight_decay=cfg.weight_decay)
    return keras.optimizers.SGD(cfg.learning_rate, momentum=0.9, nesterov=True)


def compile_model(model: keras.Model, cfg: TrainerConfig) -> None:
    model.compile(optimizer=make_optimizer(cfg), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])


def make_callbacks(cfg: TrainerConfig, run_dir: Path) -> list[keras.callbacks.Callback]:
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv")),
        keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard"), update_freq="epoch",
                                    write_graph=False),
        keras.callbacks.ModelCheckpoint(str(run_dir / "checkpoints" / "best.keras"),
                                        monitor=cfg.early_stopping.monitor, save_best_only=True),
    ]
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
