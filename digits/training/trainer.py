"""The trainer config group: optimiser, loss, callbacks and the fit loop."""

from __future__ import annotations

import csv
import io
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

from digits.utils import atomic
from digits.runs import backup
from digits.runs import hparams
from digits.utils import keras_compat
from digits.models import model_files
from digits.data import training_batches
from digits.config.run_options import DebugConfig
from digits.config.schemas import Optimizer, Schedule, TrainerConfig
from digits.training import debug_modes
from digits.training import loggers as loggers_module

log = logging.getLogger(__name__)

HISTORY_FILE = "history.csv"
CHECKPOINT = Path("checkpoints") / "best.keras"
MODEL_STREAMS = 1000  # the model's seed generators draw apart from the augmentation layers'


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; training stopped at once."""


class AtomicCheckpoint(keras_compat.FiniteModelCheckpoint):
    """The best checkpoint, written under a temporary name and renamed: a kill mid-write leaves
    the previous best whole."""

    def __init__(self, filepath: Path, **kwargs):
        self.final_path = Path(filepath)
        super().__init__(str(atomic.temporary_name(self.final_path)), **kwargs)

    def on_epoch_end(self, epoch, logs=None):
        temporary = Path(self.filepath)
        temporary.unlink(missing_ok=True)
        super().on_epoch_end(epoch, logs)
        if temporary.exists():
            atomic.commit(temporary, self.final_path)


class HistoryFile(keras.callbacks.Callback):
    """history.csv (as Keras' CSVLogger writes it), rewritten whole and atomically after every
    epoch; a resumed run starts from the rows of the epochs its backup holds."""

    def __init__(self, path: Path, epochs_kept: int):
        super().__init__()
        self.path = path
        self.rows = [row for row in read_rows(path) if int(row["epoch"]) < epochs_kept]

    def on_train_begin(self, logs=None):
        self.write()

    def on_epoch_end(self, epoch, logs=None):
        self.rows = [row for row in self.rows if int(row["epoch"]) < epoch]
        self.rows.append({"epoch": str(epoch),
                          **{key: repr(float(value)) for key, value in (logs or {}).items()}})
        self.write()

    def write(self):
        if not self.rows:
            self.path.unlink(missing_ok=True)
            return
        keys = ["epoch", *sorted(key for key in self.rows[-1] if key != "epoch")]
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=keys, lineterminator="\n", restval="")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic.write_text(self.path, text.getvalue())


class SeedEachEpoch(keras.callbacks.Callback):
    """The model's own random draws (dropout) keyed on (seed, epoch), as the input pipeline's
    are, so a resumed epoch draws what it would have drawn without the interruption."""

    def __init__(self, seed: int):
        super().__init__()
        self.seed = seed

    def on_epoch_begin(self, epoch, logs=None):
        generators = keras_compat.model_seed_generators(self.model)
        training_batches.reseed(generators, self.seed, epoch, 0, first_stream=MODEL_STREAMS)


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
    writing it into the model: the saved and evaluated model is the average. With
    trainer.clip_norm, each step's gradients are scaled down to that global norm."""
    rate = learning_rate(cfg, steps_per_epoch)
    options = ({"use_ema": True, "ema_momentum": cfg.ema_momentum}
               if cfg.ema_momentum is not None else {})
    if cfg.clip_norm is not None:
        options["global_clipnorm"] = cfg.clip_norm
    if cfg.optimizer is Optimizer.adam:
        return keras.optimizers.Adam(rate, **options)
    if cfg.optimizer is Optimizer.adamw:
        return keras.optimizers.AdamW(rate, weight_decay=cfg.weight_decay, **options)
    return keras.optimizers.SGD(rate, momentum=0.9, nesterov=True, **options)


def starting_model(cfg: TrainerConfig, build: Callable[[], keras.Model]) -> keras.Model:
    """A new model (`build`), or with trainer.init_from a trained one to fine-tune, its feature
    layers frozen if trainer.freeze_features. Raises model_files.ModelLoadError."""
    if cfg.init_from is None:
        return build()
    model = with_dtype_policy(model_files.load(cfg.init_from), cfg.precision.value)
    if model_files.is_ensemble(model):
        raise model_files.ModelLoadError(
            f"{cfg.init_from} is an ensemble (digits-ensemble): fine-tune its members one by one "
            "with trainer.init_from=MEMBER_RUN, then build a new ensemble from the results")
    if cfg.freeze_features:
        for layer in model.layers[:-1]:  # the last layer is the softmax classifier
            layer.trainable = False
    log.info("starting from %s (the model group is not used)%s", model_files.resolve(cfg.init_from),
             ", feature layers frozen" if cfg.freeze_features else "")
    return model


def compile_model(model: keras.Model, cfg: TrainerConfig,
                  steps_per_epoch: int | None = None) -> None:
    # Keras' own losses only, so the saved model loads in plain Keras. Label smoothing needs
    # one-hot labels (pipeline.one_hot_labels); "accuracy" then resolves to CategoricalAccuracy.
    loss = (keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing)
            if cfg.label_smoothing else "sparse_categorical_crossentropy")
    steps = cfg.steps_per_execution
    if steps > 1 and not keras_compat.steps_per_execution_works(tf.distribute.has_strategy()):
        log.info("trainer.steps_per_execution=%d is not supported with trainer.strategy=%s: "
                 "using 1", steps, cfg.strategy)
        steps = 1
    model.compile(optimizer=make_optimizer(cfg, steps_per_epoch), loss=loss, metrics=["accuracy"],
                  jit_compile="auto" if cfg.jit_compile is None else cfg.jit_compile,
                  steps_per_execution=steps)


@contextmanager
def precision(cfg: TrainerConfig):
    """Build and train under trainer.precision's dtype policy; always restore the previous one."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(cfg.precision.value)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def with_dtype_policy(model: keras.Model, policy: str) -> keras.Model:
    """The same model, same weights, computing under `policy`; its output layer stays float32.
    A model loaded to fine-tune (trainer.init_from) keeps the policy it was saved with, and one
    built under a mixed policy saves that policy: this is how both are converted."""
    def wanted(layer: keras.layers.Layer) -> str:
        return "float32" if layer is model.layers[-1] else policy

    if all(layer.dtype_policy.name == wanted(layer) for layer in model.layers):
        return model
    copy = keras.models.clone_model(model, clone_function=lambda layer: layer.__class__.from_config(
        {**layer.get_config(), "dtype": wanted(layer)}))
    copy.set_weights(model.get_weights())
    return copy


def monitor_mode(monitor: str) -> str:
    """"min" or "max": given explicitly, as Keras cannot tell the direction of a value that no
    compiled metric logs (val_exact_accuracy, val_cer)."""
    return "min" if monitor.endswith(("loss", "cer")) else "max"


def make_callbacks(cfg: TrainerConfig, run_dir: Path, resume: backup.State | None = None,
                   seed: int | None = None,
                   measure: tuple[keras.callbacks.Callback, ...] = (),
                   loggers: list[keras.callbacks.Callback] | None = None) -> list:
    """`resume`: the backed-up state a killed run goes on from; `seed`: key the model's random
    draws on (seed, epoch); `measure`: callbacks that add validation values to an epoch's logs
    (they run first, so every other callback sees them); `loggers`: the logger group's callbacks
    (digits.training.loggers; None: TensorBoard alone)."""
    mode = monitor_mode(cfg.early_stopping.monitor)
    checkpoint = AtomicCheckpoint(run_dir / CHECKPOINT, monitor=cfg.early_stopping.monitor,
                                  mode=mode, save_best_only=True)
    callbacks = [
        *measure,
        keras.callbacks.TerminateOnNaN(),
        HistoryFile(run_dir / HISTORY_FILE, resume.epoch if resume else 0),
        *([loggers_module.tensorboard(run_dir)] if loggers is None else loggers),
        checkpoint,
    ]
    if seed is not None:
        callbacks.insert(0, SeedEachEpoch(seed))
    if cfg.schedule is Schedule.plateau:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor=cfg.early_stopping.monitor, factor=cfg.plateau_factor,
            patience=cfg.plateau_patience, mode=mode, verbose=1))
    if cfg.early_stopping.enabled:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=cfg.early_stopping.monitor, patience=cfg.early_stopping.patience,
            restore_best_weights=cfg.early_stopping.restore_best_weights, mode=mode, verbose=1))
    # Last: it saves the finished epoch after every other callback has recorded it.
    callbacks.append(backup.Backup(run_dir, resume, callbacks, checkpoint))
    return callbacks


def read_rows(path: Path) -> list[dict[str, str]]:
    """history.csv's rows as written; [] if there is none (or a line does not parse)."""
    if not path.is_file():
        return []
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    return [row for row in rows if None not in row.values() and row.get("epoch", "").isdigit()]


def read_history(path: Path) -> dict[str, list[float]]:
    """history.csv -> {metric: [value per epoch]} (without the epoch column)."""
    rows = read_rows(path)
    return {key: [float(row[key]) for row in rows] for key in rows[0] if key != "epoch"}


def fit(model: keras.Model, train, val, cfg: TrainerConfig,
        run_dir: Path, resume: backup.State | None = None, seed: int | None = None,
        measure: tuple[keras.callbacks.Callback, ...] = (),
        steps_per_epoch: int | None = None,
        loggers: list[keras.callbacks.Callback] | None = None,
        debug: DebugConfig | None = None) -> tuple[dict[str, list[float]], float]:
    """Train for cfg.epochs epochs; with `resume` (digits.runs.backup.last_good_state), go on from that
    backed-up state as if the run had never stopped (`train` then starts at the resumed epoch:
    training_batches.training_dataset's first_epoch); with `seed`, the model's own random draws are keyed
    on (seed, epoch) too. `train` is a tf.data.Dataset; `val` may be None when
    `measure` callbacks log the validation values (make_callbacks); with `steps_per_epoch`,
    `train` is one endless stream that every epoch goes on reading. `loggers`: make_callbacks';
    `debug`: the debug group's mode (digits.training.debug_modes), which may change the batches
    trained on and stop an overfitting run early.

    Returns the history of every epoch (from history.csv, so resumed runs are whole) and the
    wall time of this call's fitting in seconds. Raises TrainingDiverged on a NaN loss.
    """
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    done = resume.epoch if resume else 0
    if done:
        log.info("resuming: %d of %d epochs were finished before", done, cfg.epochs)
    # Early stopping had ended the run: nothing to train, only the end of fit to run again.
    epochs = done if resume and resume.stopped else cfg.epochs
    train, steps_per_epoch = debug_modes.training_data(debug, train, steps_per_epoch)
    start = time.perf_counter()
    with ctrl_c_cannot_be_lost() as interrupt:
        model.fit(train, validation_data=val, epochs=epochs, initial_epoch=done,
                  steps_per_epoch=steps_per_epoch, shuffle=False, verbose=cfg.verbose,
                  callbacks=[*make_callbacks(cfg, run_dir, resume, seed, measure, loggers),
                             *debug_modes.callbacks(debug), interrupt])
    seconds = time.perf_counter() - start
    history = read_history(run_dir / HISTORY_FILE)
    losses = history.get("loss", [])
    if losses and not math.isfinite(losses[-1]):
        best = run_dir / CHECKPOINT
        kept = (f"the last good model is kept in {best}" if best.is_file()
                else "no epoch finished before it, so there is no good model to keep")
        raise TrainingDiverged(f"the loss became {losses[-1]} in epoch {len(losses) - 1}, "
                               f"so training stopped; {kept}. Try a lower trainer.learning_rate")
    debug_modes.check_fitted(debug, losses, cfg.learning_rate)
    return history, seconds


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
    """0-based epoch whose weights EarlyStopping(restore_best_weights) keeps (the first of ties,
    as Keras counts only strict improvements)."""
    values = history[monitor]
    pick = min if monitor_mode(monitor) == "min" else max
    return values.index(pick(values))


def kept_weights(cfg: TrainerConfig, history: dict[str, list[float]]) -> tuple[str, int]:
    """Which weights fit() leaves in the model, and from which 0-based epoch: "moving_average"
    (EMA: Keras writes the average in at the end), "best_epoch" (early stopping restores the best
    epoch's weights at the end of training, also after a resume: digits.runs.backup keeps them) or
    "last_epoch"."""
    last = len(history["loss"]) - 1
    if cfg.ema_momentum is not None:
        return "moving_average", last
    if cfg.early_stopping.enabled and cfg.early_stopping.restore_best_weights:
        return "best_epoch", best_epoch(history, cfg.early_stopping.monitor)
    return "last_epoch", last


def kept_weights_metrics(cfg: TrainerConfig, history: dict[str, list[float]],
                         validation: dict[str, float]) -> dict:
    """What model.keras holds, for metrics.json: which weights (kept_weights), from which epoch,
    and `validation`: their validation metrics, measured again on the kept weights (averaged
    weights were never validated in training)."""
    weights, epoch = kept_weights(cfg, history)
    kept = {"weights": weights, "weights_epoch": epoch, **validation}
    if weights == "best_epoch":
        kept["best_epoch"] = epoch
    return kept


def finish_run(run_dir: Path, cfg, metrics: dict) -> None:
    """The end of a run whose model.keras is saved: its metrics for TensorBoard's HParams, then
    metrics.json (last: its presence marks the run as finished), then the backup and any
    partial files go."""
    hparams.log(run_dir, cfg, {key: float(value) for key, value in metrics.items()
                               if isinstance(value, (int, float))})
    atomic.write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    backup.remove(run_dir)
    for folder in (run_dir, run_dir / "checkpoints"):
        atomic.remove_partial_files(folder)
