"""The training input pipeline: shuffle, batch, normalise to [0, 1], augment, prefetch.

Every random draw of training is keyed on (seed, epoch, batch), never on how far a generator has
run: epoch E's order and augmentation are the same whether the run went through epochs 0..E-1 in
this process or was killed and resumed at E (digits.runs.backup). Keras' augmentation layers draw
from stateful seed generators, so each batch first sets their state from (seed, epoch, batch).
Training only: commands that only read with a model use pipeline and never load keras_compat.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from digits.data import augment
from digits.data.pipeline import AUTOTUNE, normalise, one_hot_labels, steps_per_epoch
from digits.utils import keras_compat

DRAWS_PER_BATCH = 1024  # room for each layer's draws in one batch (Keras adds 1 per draw)


def stream_seed(seed: int, epoch, stream: int):
    """A generator's first seed word for (seed, epoch, stream): distinct for every run seed,
    epoch and layer a run can have."""
    mixed = (tf.cast(seed, tf.int64) * 1_000_003 + tf.cast(epoch, tf.int64) * 7_919
             + stream * 104_729)
    return mixed % (2**31)


def reseed(generators: list, seed: int, epoch, batch, first_stream: int = 0) -> list:
    """Set each SeedGenerator's state from (seed, epoch, batch); returns the assign ops."""
    return [generator.state.assign(tf.cast(tf.stack(
        [stream_seed(seed, epoch, first_stream + index),
         tf.cast(batch, tf.int64) * DRAWS_PER_BATCH]), generator.state.dtype))
        for index, generator in enumerate(generators)]


def training_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                     augmentation: keras.Sequential | None = None, one_hot: bool = False,
                     first_epoch: int = 0) -> tf.data.Dataset:
    """One epoch of batches per pass: Model.fit makes one pass per epoch, and pass k (from 0)
    yields epoch first_epoch + k, a new shuffle augmented batch by batch, keyed on (seed, that
    epoch); a resumed run gives its first epoch. Labels one-hot if `one_hot`."""
    images, labels = tf.constant(x), tf.constant(y)
    count = len(x)
    passes = tf.Variable(first_epoch - 1, dtype=tf.int64, trainable=False)

    def one_epoch(epoch):
        keys = tf.random.stateless_uniform([count], seed=tf.stack([tf.cast(seed, tf.int64),
                                                                   epoch]))
        order = tf.data.Dataset.from_tensor_slices(tf.argsort(keys)).batch(batch_size)
        return order.enumerate().map(lambda batch, indices: (
            epoch, batch, tf.gather(images, indices), tf.gather(labels, indices)))

    # The epoch is counted when a pass begins (a stateful op, run once per iterator).
    dataset = tf.data.Dataset.range(1).map(lambda _: passes.assign_add(1)).flat_map(one_epoch)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(
        steps_per_epoch(count, batch_size)))
    layers = augmentation.layers if augmentation is not None else []
    if not layers:
        dataset = dataset.map(lambda epoch, batch, images, labels: (normalise(images), labels),
                              num_parallel_calls=AUTOTUNE)
    elif augment.draws_apart(augmentation):
        dataset = _draw_in_order_resample_in_parallel(dataset, layers, seed)
    else:
        generators = [g for layer in layers for g in keras_compat.seed_generators(layer)]

        # Sequential on purpose: the layers draw from shared seed generators while they
        # transform, so batches augmented in parallel would take each other's draws.
        def augment_batch(epoch, batch, images, labels):
            with tf.control_dependencies(reseed(generators, seed, epoch, batch)):
                return augmentation(normalise(images), training=True), labels

        dataset = dataset.map(augment_batch)
    if one_hot:
        dataset = one_hot_labels(dataset)
    return dataset.prefetch(AUTOTUNE)


def _draw_in_order_resample_in_parallel(dataset: tf.data.Dataset, layers,
                                        seed: int) -> tf.data.Dataset:
    """The same images as calling the augmentation batch by batch, but faster: the random
    parameters are drawn one batch at a time (cheap; the seed generators are shared), and the
    resampling, nearly all of the cost, runs on every core (an order-preserving parallel map)."""
    generators = [g for layer in layers for g in keras_compat.seed_generators(layer)]

    def draw(epoch, batch, images, labels):
        with tf.control_dependencies(reseed(generators, seed, epoch, batch)):
            images = normalise(images)  # the layers draw for float images, as in the model
            return images, tuple(keras_compat.draw_transformation(layer, images)
                                 for layer in layers), labels

    def transform(images, transformations, labels):
        for layer, transformation in zip(layers, transformations):
            images = keras_compat.apply_transformation(layer, images, transformation)
        return images, labels

    return dataset.map(draw).map(transform, num_parallel_calls=AUTOTUNE)
