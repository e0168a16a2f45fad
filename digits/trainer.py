"""The trainer config group: optimiser, loss, callbacks and the fit loop."""

from __future__ import annotations

import csv
import json
import logging
import math
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import keras
import tensorflow as tf

from digits import modelio
from digits.config import Optimizer, Schedule, TrainerConfig

log = logging.getLogger(__name__)

HISTORY_FILE = "history.csv"
BACKUP_DIR = "backup"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; training stopped at once."""


class FiniteModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """ModelCheckpoint that never saves NaN/inf results: Keras saves the first epoch whatever its
    loss, so a run diverging in its first epoch would keep a broken "best" model."""

    def _should_save_model(self, epoch, batch, logs, filepath):
        values = [(logs or {}).get(key) for key in ("loss", self.monitor)]
        if any(value is not None and not math.isfinite(float(value)) for value in values):
            return False
        return super()._should_save_model(epoch, batch, logs, filepath)


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
    """With trainer.ema_momentum, Keras keeps a moving average of the weights and `fit` ends by
    writing it into the model: the saved and evaluated model is the average."""
    rate = learning_rate(cfg, steps_per_epoch)
    ema = ({"use_ema": True, "ema_momentum": cfg.ema_momentum} if cfg.ema_momentum is not None
           else {})
    if cfg.optimizer is Optimizer.adam:
        return keras.optimizers.Adam(rate, **ema)
    if cfg.optimizer is Optimizer.adamw:
        return keras.optimizers.AdamW(rate, weight_decay=cfg.weight_decay, **ema)
    return keras.optimizers.SGD(rate, momentum=0.9, nesterov=True, **ema)


def starting_model(cfg: TrainerConfig, build: Callable[[], keras.Model]) -> keras.Model:
    """A new model (`build`), or with trainer.init_from a trained one to fine-tune, its feature
    layers frozen if trainer.freeze_features. Raises modelio.ModelLoadError."""
    if cfg.init_from is None:
        return build()
    model = modelio.load(cfg.init_from)
    if modelio.is_ensemble(model):
        raise modelio.ModelLoadError(
            f"{cfg.init_from} is an ensemble (digits-ensemble): fine-tune its members one by one "
            "with trainer.init_from=MEMBER_RUN, then build a new ensemble from the results")
    if cfg.freeze_features:
        for layer in model.layers[:-1]:  # the last layer is the softmax classifier
            layer.trainable = False
    log.info("starting from %s (the model group is not used)%s", modelio.resolve(cfg.init_from),
             ", feature layers frozen" if cfg.freeze_features else "")
    return model


def compile_model(model: keras.Model, cfg: TrainerConfig,
                  steps_per_epoch: int | None = None) -> None:
    # Keras' own losses only, so the saved model loads in plain Keras. Label smoothing needs
    # one-hot labels (pipeline.one_hot_labels); "accuracy" then resolves to CategoricalAccuracy.
    loss = (keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing)
            if cfg.label_smoothing else "sparse_categorical_crossentropy")
    steps = cfg.steps_per_execution
    if steps > 1 and tf.distribute.has_strategy():
        # Keras 3.15's multi-step loop fails under tf.distribute ("You must feed a value for
        # placeholder tensor"): one step per call there.
        log.info("trainer.steps_per_execution=%d is not supported with trainer.strategy=%s: "
                 "using 1", steps, cfg.strategy)
        steps = 1
    model.compile(optimizer=make_optimizer(cfg, steps_per_epoch), loss=loss, metrics=["accuracy"],
                  jit_compile="auto" if cfg.jit_compile is None else cfg.jit_compile,
                  steps_per_execution=steps)


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


def make_callbacks(cfg: TrainerConfig, run_dir: Path,
                   best_so_far: float | None = None) -> list[keras.callbacks.Callback]:
    """`best_so_far`: the monitored value of the best epoch before a resume, so the checkpoint
    of that epoch is only replaced by a better one."""
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        # Appends on resume; a row written just before a kill, whose epoch the backup missed,
        # is trimmed by fit() before the epoch runs again.
        keras.callbacks.CSVLogger(str(run_dir / HISTORY_FILE), append=True),
        keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard"), update_freq="epoch",
                                    write_graph=False),
        FiniteModelCheckpoint(str(run_dir / "checkpoints" / "best.keras"),
                              monitor=cfg.early_stopping.monitor, save_best_only=True,
                              initial_value_threshold=best_so_far),
    ]
    if cfg.schedule is Schedule.plateau:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor=cfg.early_stopping.monitor, factor=cfg.plateau_factor,
            patience=cfg.plateau_patience, verbose=1))
    if cfg.early_stopping.enabled:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=cfg.early_stopping.monitor, patience=cfg.early_stopping.patience,
            restore_best_weights=cfg.early_stopping.restore_best_weights, verbose=1))
    # Last: it saves the finished epoch after every other callback has recorded it.
    callbacks.append(keras.callbacks.BackupAndRestore(str(run_dir / BACKUP_DIR)))
    return callbacks


def backed_up_epochs(run_dir: Path) -> int:
    """How many epochs a killed run in `run_dir` had finished (0 for a new run)."""
    metadata = run_dir / BACKUP_DIR / "training_metadata.json"
    return json.loads(metadata.read_text())["epoch"] if metadata.is_file() else 0


def read_history(path: Path) -> dict[str, list[float]]:
    """history.csv -> {metric: [value per epoch]} (without the epoch column)."""
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    return {key: [float(row[key]) for row in rows] for key in rows[0] if key != "epoch"}


def trim_history(path: Path, epochs: int) -> None:
    """Keep the header and the rows of the first `epochs` epochs."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines[1:] if int(line.split(",", 1)[0]) < epochs]
    path.write_text("".join(lines[:1] + kept) if kept else "")


def fit(model: keras.Model, train: tf.data.Dataset, val: tf.data.Dataset, cfg: TrainerConfig,
        run_dir: Path) -> tuple[dict[str, list[float]], float]:
    """Train, going on from the last finished epoch if the run was killed before.

    Returns the history of every epoch (from history.csv, so resumed runs are whole) and the
    wall time of this call's fitting in seconds. Raises TrainingDiverged on a NaN loss.
    """
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    done = backed_up_epochs(run_dir)
    trim_history(run_dir / HISTORY_FILE, done)
    best_so_far = None
    if done:
        log.info("resuming: %d of %d epochs were finished before", done, cfg.epochs)
        previous, monitor = read_history(run_dir / HISTORY_FILE), cfg.early_stopping.monitor
        best_so_far = previous[monitor][best_epoch(previous, monitor)]
    start = time.perf_counter()
    with ctrl_c_cannot_be_lost() as interrupt:
        history = model.fit(train, validation_data=val, epochs=cfg.epochs, shuffle=False,
                            callbacks=[*make_callbacks(cfg, run_dir, best_so_far), interrupt],
                            verbose=cfg.verbose)
    seconds = time.perf_counter() - start
    losses = history.history.get("loss", [])
    if losses and not math.isfinite(losses[-1]):
        best = run_dir / "checkpoints" / "best.keras"
        kept = (f"the last good model is kept in {best}" if best.is_file()
                else "no epoch finished before it, so there is no good model to keep")
        raise TrainingDiverged(f"the loss became {losses[-1]} in epoch {done + len(losses) - 1}, "
                               f"so training stopped; {kept}. Try a lower trainer.learning_rate")
    return read_history(run_dir / HISTORY_FILE), seconds


class InterruptAfterBatch(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.requested = False

    def on_train_batch_end(self, batch, logs=None):
        if self.requested:
            raise KeyboardInterrupt

    on_test_batch_end = on_train_batch_end


@contextmanager
def ctrl_c_cannot_be_lost():
    """Ctrl-C raises KeyboardInterrupt wherever Python happens to be; where that is a finalizer
    or another spot whose exceptions Python only prints, it is dropped and training goes on (CI
    once saw a run finish after Ctrl-C). The signal also sets a flag that a callback checks after
    every batch, so the interrupt cannot be lost."""
    interrupt = InterruptAfterBatch()
    if threading.current_thread() is not threading.main_thread():  # signals reach main only
        yield interrupt
        return

    def on_sigint(signum, frame):
        interrupt.requested = True
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield interrupt
    finally:
        signal.signal(signal.SIGINT, previous)


def best_epoch(history: dict[str, list[float]], monitor: str) -> int:
    """0-based epoch whose weights EarlyStopping(restore_best_weights) keeps."""
    values = history[monitor]
    pick = min if monitor.endswith("loss") else max
    return values.index(pick(values))
