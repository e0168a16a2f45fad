"""tf.data input pipelines: shuffle, batch, normalise to [0, 1], augment (training only), prefetch."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


def normalise(images):
    """uint8 (..., 28, 28) -> float32 (..., 28, 28, 1) in [0, 1]: what every model takes."""
    return tf.expand_dims(tf.cast(images, tf.float32) / 255.0, -1)


def invert(images: np.ndarray) -> np.ndarray:
    """Light-on-dark <-> dark-on-light, for uint8 images."""
    return 255 - images


def training_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                     augmentation: keras.Sequential | None = None) -> tf.data.Dataset:
    """Reshuffled every epoch, augmented on the fly batch by batch."""
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if augmentation is not None and augmentation.layers:
        # Sequential on purpose: the layers draw from a stateful seed generator, so batches
        # augmented in parallel would take the draws in a varying order and a seeded run would
        # not repeat. Each call is vectorised over the batch and still far outpaces training;
        # normalising in the same map saves a pipeline stage per batch.
        return dataset.map(lambda images, labels: (
            augmentation(normalise(images), training=True), labels)).prefetch(AUTOTUNE)
    return dataset.map(lambda images, labels: (normalise(images), labels),
                       num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def evaluation_dataset(x: np.ndarray, y: np.ndarray, batch_size: int) -> tf.data.Dataset:
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    return dataset.map(lambda images, labels: (normalise(images), labels),
                       num_parallel_calls=AUTOTUNE).cache().prefetch(AUTOTUNE)
