"""The debug group at training time: what data an epoch reads, when an overfitting run stops, and
whether it fitted its batches (debug=profile's trace is the TensorBoard logger's:
digits/training/loggers.py).

debug=default: at most debug.max_steps batches per epoch. debug=overfit: the first
debug.overfit_batches batches, each seen debug.overfit_repeats times an epoch, until the
training loss is below debug.loss_threshold; a model that cannot get there fails the run.
"""

from __future__ import annotations

import logging
import math

import keras
import tensorflow as tf

from digits.config.run_options import DebugConfig, DebugMode

log = logging.getLogger(__name__)


class OverfitFailed(RuntimeError):
    """debug=overfit: the training loss on the repeated batches stayed above the threshold."""


def overfitting(debug: DebugConfig | None) -> bool:
    return debug is not None and debug.mode is DebugMode.overfit


def training_data(debug: DebugConfig | None, train: tf.data.Dataset,
                  steps_per_epoch: int | None) -> tuple[tf.data.Dataset, int | None]:
    """(the training batches, steps per epoch) the debug mode trains on. `steps_per_epoch` None:
    `train` is one epoch's batches, read again every epoch; else an endless stream."""
    if overfitting(debug):
        batches = train.take(debug.overfit_batches).cache().repeat()
        return batches, debug.overfit_batches * debug.overfit_repeats
    if debug is None or debug.max_steps is None:
        return train, steps_per_epoch
    if steps_per_epoch is None:
        return train.take(debug.max_steps), None
    return train, min(steps_per_epoch, debug.max_steps)


class StopWhenFitted(keras.callbacks.Callback):
    """Ends training after the first epoch whose mean training loss is below the threshold."""

    def __init__(self, threshold: float):
        super().__init__()
        self.threshold = threshold

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and logs.get("loss", math.inf) < self.threshold:
            self.model.stop_training = True


def callbacks(debug: DebugConfig | None) -> list[keras.callbacks.Callback]:
    return [StopWhenFitted(debug.loss_threshold)] if overfitting(debug) else []


def check_fitted(debug: DebugConfig | None, losses: list[float], learning_rate: float) -> None:
    """debug=overfit: raise OverfitFailed unless the last epoch's training loss is below
    debug.loss_threshold."""
    if not overfitting(debug):
        return
    steps = debug.overfit_batches * debug.overfit_repeats
    last = losses[-1] if losses else math.inf
    if last < debug.loss_threshold:
        log.info("debug=overfit: the training loss on %d repeated batches fell to %.4g "
                 "(below %g) in %d epochs of %d steps: the model can learn",
                 debug.overfit_batches, last, debug.loss_threshold, len(losses), steps)
        return
    raise OverfitFailed(
        f"debug=overfit failed: the training loss on {debug.overfit_batches} repeated batches "
        f"is still {last:.4g} after {len(losses)} epochs of {steps} steps, not below "
        f"debug.loss_threshold={debug.loss_threshold:g}: the model cannot learn them (check "
        f"trainer.learning_rate={learning_rate:g}, the model and the labels)")
