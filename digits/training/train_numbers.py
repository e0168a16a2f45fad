"""Training a whole-number reader: `digits-train data=numbers model=crnn` (experiment=numbers).

MNIST digits -> synthetic numbers drawn on the fly, batch by batch (composed.batch, keyed on
(seed, epoch, step), so a resumed run draws exactly what it would have drawn) -> the CRNN's logits
fitted with Keras' CTC loss by trainer.fit (optimiser, schedule, EMA, history, TensorBoard,
checkpoint, early stopping, backup and resume) -> exact-number accuracy and character error rate
on fixed validation numbers after every epoch, on the fixed test set at the end -> model.keras
(the probabilities model: built-in layers, never compiled, no optimiser state) and metrics.json.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
from collections import defaultdict
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from digits.utils import atomic
from digits.runs import backup
from digits.config import schemas
from digits.data import datasets
from digits.utils import keras_compat
from digits.models import model_files
from digits.data.numbers import written
from digits.data.numbers import number_pool
from digits.reading import number_reader
from digits.data.numbers import fixed_sets
from digits.data.numbers import composed
from digits.models import crnn
from digits.synth import number_layout
from digits.training import trainer
from digits.vision import mnist_style

log = logging.getLogger("digits.train")

READ_BATCH_SIZE = 128  # lines read at once when measuring


def training_stream(x: np.ndarray, y: np.ndarray, cfg: schemas.NumbersDataConfig,
                    batch_size: int, seed: int, first_epoch: int = 0,
                    epochs: int | None = None,
                    pool: number_pool.Pool | None = None) -> tf.data.Dataset:
    """Batches (lines, CTC labels) of epoch first_epoch, step 0, 1, ... then the next epochs up
    to `epochs` (None: without end): fit reads data.steps_per_epoch of them per epoch
    (trainer.fit's steps_per_epoch). Drawn one batch ahead, while the model trains on the one
    before; a stream that ends with the run leaves no batch being drawn when fit returns. With a
    pool (data.pool_size), batches are picked from it instead of drawn."""
    def batches():
        last = itertools.count(first_epoch) if epochs is None else range(first_epoch, epochs)
        for epoch in last:
            for step in range(cfg.steps_per_epoch):
                yield epoch_batch(x, y, cfg, batch_size, seed, epoch, step, pool)[:2]

    signature = (tf.TensorSpec((None, written.LINE_HEIGHT, None, 1), tf.float32),
                 tf.TensorSpec((None, number_layout.MAX_DIGITS), tf.int32))
    return tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(1)


def training_pool(x, y, cfg: schemas.NumbersDataConfig, seed: int) -> number_pool.Pool | None:
    """data.pool_size training numbers drawn once (cached), or None: new numbers every batch."""
    if not cfg.pool_size:
        return None
    log.info("data.pool_size=%d: training numbers drawn once and cached", cfg.pool_size)
    return number_pool.load(x, y, cfg.pool_size, seed, cfg.photo_fraction,
                            (cfg.min_digits, cfg.max_digits), cfg.hand_fraction,
                            cfg.outline_fraction, cfg.cut_fraction)


def batch_lengths(cfg: schemas.NumbersDataConfig, seed: int, epoch: int,
                  step: int) -> tuple[int, int]:
    """The lengths of batch `step` of `epoch`: two neighbouring lengths (1-2, 3-4, ...), drawn
    in proportion to how many lengths each pair holds, so lengths stay uniform over the run and
    little of a batch is padding (a batch is as wide as its longest number)."""
    lengths = list(range(cfg.min_digits, cfg.max_digits + 1))
    pairs = [lengths[i:i + 2] for i in range(0, len(lengths), 2)]
    rng = np.random.default_rng([seed, epoch, step, 2])  # apart from the numbers' own streams
    pair = pairs[rng.choice(len(pairs), p=[len(p) / len(lengths) for p in pairs])]
    return pair[0], pair[-1]


def epoch_batch(x, y, cfg: schemas.NumbersDataConfig, batch_size: int, seed: int, epoch: int,
                step: int, pool: number_pool.Pool | None = None):
    """Batch `step` of `epoch`: (lines, labels, Numbers or, from a pool, label strings), the
    same for the same keys."""
    if pool is not None:
        return number_pool.batch(pool, seed, epoch, step, batch_size,
                                 batch_lengths(cfg, seed, epoch, step), crnn.TIME_STRIDE,
                                 (cfg.width_scale_min, cfg.width_scale_max))
    return composed.batch(x, y, seed, epoch, step, batch_size, cfg.photo_fraction,
                              batch_lengths(cfg, seed, epoch, step), crnn.TIME_STRIDE,
                              cfg.hand_fraction, (cfg.width_scale_min, cfg.width_scale_max),
                              cfg.outline_fraction, cfg.cut_fraction)


def measure(reader: keras.Model, lines: list[np.ndarray], labels: list[str]) -> dict:
    """exact_accuracy, cer, loss (mean CTC loss of the true numbers) and the readings."""
    predicted, losses = [""] * len(lines), []
    for chunk, probabilities in crnn.line_probabilities(reader, lines, READ_BATCH_SIZE):
        for i, reading in zip(chunk, crnn.decode(probabilities)):
            predicted[i] = reading.number
        losses += list(crnn.ctc_losses(probabilities, [labels[i] for i in chunk]))
    return {**crnn.scores(predicted, labels), "loss": float(np.mean(losses)),
            "predicted": predicted}


class NumberMetrics(keras.callbacks.Callback):
    """val_exact_accuracy, val_cer and val_loss on the fixed validation numbers, added to the
    epoch's logs before history, TensorBoard, checkpoint and early stopping read them."""

    def __init__(self, reader: keras.Model, lines: list[np.ndarray], labels: list[str]):
        super().__init__()
        self.reader, self.lines, self.labels = reader, lines, labels

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        result = measure(self.reader, self.lines, self.labels)
        logs.update({"val_exact_accuracy": result["exact_accuracy"], "val_cer": result["cer"],
                     "val_loss": result["loss"]})
        log.info("epoch %d: validation exact %.4f, CER %.4f", epoch + 1,
                 result["exact_accuracy"], result["cer"])


def starting_reader(cfg: schemas.TrainConfig) -> keras.Model:
    """A new CRNN, or with trainer.init_from a trained sequence model to go on from."""
    model = trainer.starting_model(cfg.trainer, lambda: crnn.crnn(cfg.model))
    if not crnn.is_sequence_model(model) or "logits" not in [l.name for l in model.layers]:
        raise model_files.ModelLoadError(f"trainer.init_from={cfg.trainer.init_from} is not a "
                                     "whole-number reader (model=crnn): data=numbers needs one")
    return model


def compile_for_ctc(reader: keras.Model, cfg: schemas.TrainerConfig,
                    steps_per_epoch: int) -> keras.Model:
    """The reader's layers up to the logits, compiled with Keras' CTC loss and the trainer's
    optimiser. Not jit-compiled unless asked: every batch width would compile again. Steps per
    compiled call divide the epoch: a call never reads into the next epoch's batches."""
    trainable = keras.Model(reader.input, reader.get_layer("logits").output, name="crnn_logits")
    trainable.compile(optimizer=trainer.make_optimizer(cfg, steps_per_epoch),
                      loss=keras.losses.CTC(), jit_compile=bool(cfg.jit_compile),
                      steps_per_execution=math.gcd(cfg.steps_per_execution, steps_per_epoch))
    return trainable


def by_group(correct: list[bool], groups: list) -> dict[str, float]:
    """Exact accuracy in each group (a length or a spacing), in sorted order."""
    found = defaultdict(list)
    for ok, group in zip(correct, groups):
        found[str(group)].append(ok)
    return {group: float(np.mean(found[group])) for group in sorted(found)}


def test_metrics(reader: keras.Model, splits: datasets.Splits,
                 cfg: schemas.NumbersDataConfig) -> dict:
    """The fixed test set (fixed_sets.fixed_set of MNIST's test split), read as digits-predict
    --number and digits-evaluate read it (number_reader.read: two views of each line): exact
    accuracy and CER, exact accuracy by length and by spacing."""
    x, y = composed.split_arrays(splits, "test")
    lines, labels, metadata = fixed_sets.fixed_set(x, y, cfg.test_count)
    predicted = [reading.number for reading in number_reader.read(reader, lines)]
    result = crnn.scores(predicted, labels)
    correct = [p == t for p, t in zip(predicted, labels)]
    return {"test_exact_accuracy": result["exact_accuracy"], "test_cer": result["cer"],
            "test_exact_by_length": by_group(correct, [m["length"] for m in metadata]),
            "test_exact_by_spacing": by_group(correct, [m["spacing"] for m in metadata])}


def validation_set(splits: datasets.Splits, cfg: schemas.NumbersDataConfig):
    """The fixed validation numbers (MNIST's validation digits, VALIDATION_SEED)."""
    x, y = composed.split_arrays(splits, "validation")
    lines, labels, _ = fixed_sets.fixed_set(x, y, cfg.validation_count,
                                             fixed_sets.VALIDATION_SEED)
    return lines, labels


def run_training(cfg: schemas.TrainConfig, run_dir: Path,
                 logger_callbacks: list | None = None) -> dict:
    """Train a whole-number reader as `cfg` says; write every artefact to `run_dir`; return the
    metrics (those of metrics.json). `logger_callbacks`: the logger group's (None: TensorBoard)."""
    keras_compat.check_keras_version()
    keras.backend.clear_session()
    keras.utils.set_random_seed(cfg.training_seed)
    splits = datasets.load(cfg.data, cfg.seed)  # the numbers drawn follow `seed`, like all data
    val_lines, val_labels = validation_set(splits, cfg.data)
    log.info("data=numbers: %d training digits, %d validation numbers, %d numbers per epoch",
             len(splits.x_train), len(val_lines), cfg.data.steps_per_epoch * cfg.trainer.batch_size)
    resume = backup.last_good_state(run_dir)
    x_train, y_train = composed.split_arrays(splits, "train")
    pool = training_pool(x_train, y_train, cfg.data, cfg.seed)
    stream = training_stream(x_train, y_train, cfg.data, cfg.trainer.batch_size, cfg.seed,
                             first_epoch=resume.epoch if resume else 0,
                             epochs=cfg.trainer.epochs, pool=pool)
    with trainer.precision(cfg.trainer):
        reader = starting_reader(cfg)
        trainable = compile_for_ctc(reader, cfg.trainer, cfg.data.steps_per_epoch)
        log.info("model %s: %d parameters", reader.name, reader.count_params())
        history, train_seconds = trainer.fit(
            trainable, stream, None, cfg.trainer, run_dir, resume, cfg.training_seed,
            measure=(NumberMetrics(reader, val_lines, val_labels),),
            steps_per_epoch=cfg.data.steps_per_epoch, loggers=logger_callbacks,
            debug=cfg.debug)

    reader = trainer.with_dtype_policy(reader, "float32")  # what is measured is what is saved
    metrics = {
        **test_metrics(reader, splits, cfg.data),
        **trainer.kept_weights_metrics(cfg.trainer, history, {
            "val_exact_accuracy": measure(reader, val_lines, val_labels)["exact_accuracy"]}),
        "best_val_exact_accuracy": float(max(history["val_exact_accuracy"])),
        "epochs": len(history["loss"]),
        "train_seconds": round(train_seconds, 2),
        "parameters": reader.count_params(),
        "model": architecture(reader, cfg),
        "preprocessing_version": mnist_style.PREPROCESSING_VERSION,
        "line_version": mnist_style.LINE_VERSION,  # what mnist_style.to_line made of the photos
    }
    atomic.save_model(reader, run_dir / "model.keras")
    trainer.finish_run(run_dir, cfg, metrics)
    return metrics


def architecture(reader: keras.Model, cfg: schemas.TrainConfig) -> dict:
    """The model trained: the model group's, or with trainer.init_from the loaded one."""
    if cfg.trainer.init_from:
        return {"name": reader.name, "init_from": str(model_files.resolve(cfg.trainer.init_from))}
    return {"name": reader.name, "config": dataclasses.asdict(cfg.model)}
