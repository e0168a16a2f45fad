"""tf.data input pipelines: batch, normalise to [0, 1], prefetch; what every model reads.
The training stream (shuffled, augmented, keyed on (seed, epoch, batch)) is training_batches'.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE
NUM_CLASSES = 10


def normalise(images):
    """uint8 (..., 28, 28) -> float32 (..., 28, 28, 1) in [0, 1]: what every model takes."""
    return tf.expand_dims(tf.cast(images, tf.float32) / 255.0, -1)


def invert(images: np.ndarray) -> np.ndarray:
    """Light-on-dark <-> dark-on-light, for uint8 images."""
    return 255 - images


def one_hot_labels(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """(images, digit) -> (images, one-hot digit): what Keras' CategoricalCrossentropy takes, the
    built-in loss with label smoothing (so the saved model needs no custom loss to load)."""
    return dataset.map(lambda images, labels: (images, tf.one_hot(labels, NUM_CLASSES)))


def steps_per_epoch(images: int, batch_size: int) -> int:
    return math.ceil(images / batch_size)


def evaluation_dataset(x: np.ndarray, y: np.ndarray, batch_size: int,
                       one_hot: bool = False) -> tf.data.Dataset:
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    dataset = dataset.map(lambda images, labels: (normalise(images), labels),
                          num_parallel_calls=AUTOTUNE)
    if one_hot:
        dataset = one_hot_labels(dataset)
    return dataset.cache().prefetch(AUTOTUNE)
