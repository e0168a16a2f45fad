"""tf.data input pipelines: shuffle, batch, normalise to [0, 1], augment (training only), prefetch."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from digits import augment

AUTOTUNE = tf.data.AUTOTUNE


def normalise(images):
    """uint8 (..., 28, 28) -> float32 (..., 28, 28, 1) in [0, 1]: what every model takes."""
    return tf.expand_dims(tf.cast(images, tf.float32) / 255.0, -1)


def invert(images: np.ndarray) -> np.ndarray:
    """Light-on-dark <-> dark-on-light, for uint8 images."""
    return 255 - images


NUM_CLASSES = 10


def one_hot_labels(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """(images, digit) -> (images, one-hot digit): what Keras' CategoricalCrossentropy takes, the
    built-in loss with label smoothing (so the saved model needs no custom loss to load)."""
    return dataset.map(lambda images, labels: (images, tf.one_hot(labels, NUM_CLASSES)))


def training_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                     augmentation: keras.Sequential | None = None,
                     one_hot: bool = False) -> tf.data.Dataset:
    """Reshuffled every epoch, augmented on the fly batch by batch; labels one-hot if `one_hot`."""
    dataset = _training_dataset(x, y, batch_size, seed, augmentation)
    return one_hot_labels(dataset).prefetch(AUTOTUNE) if one_hot else dataset


def _training_dataset(x, y, batch_size, seed, augmentation):
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if augmentation is not None and augmentation.layers:
        if augment.draws_apart(augmentation):
            return _draw_in_order_resample_in_parallel(dataset, augmentation.layers)
        # Sequential on purpose: these layers draw from stateful seed generators while they
        # transform, so batches augmented in parallel would take the draws in a varying order
        # and a seeded run would not repeat.
        return dataset.map(lambda images, labels: (
            augmentation(normalise(images), training=True), labels)).prefetch(AUTOTUNE)
    return dataset.map(lambda images, labels: (normalise(images), labels),
                       num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def _draw_in_order_resample_in_parallel(dataset: tf.data.Dataset, layers) -> tf.data.Dataset:
    """The same images as calling the augmentation batch by batch, but faster: the random
    parameters are drawn one batch at a time, in order, from the layers' stateful seed generators
    (cheap, and what keeps a seeded run repeatable), and the resampling, nearly all of the cost,
    runs on every core (an order-preserving parallel map)."""

    def draw(images, labels):
        images = normalise(images)  # the layers draw for float images, as in the model
        return images, tuple(layer.get_random_transformation(images, training=True)
                             for layer in layers), labels

    def transform(images, transformations, labels):
        for layer, transformation in zip(layers, transformations):
            images = layer.transform_images(images, transformation, training=True)
        return images, labels

    return dataset.map(draw).map(transform, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def evaluation_dataset(x: np.ndarray, y: np.ndarray, batch_size: int,
                       one_hot: bool = False) -> tf.data.Dataset:
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    dataset = dataset.map(lambda images, labels: (normalise(images), labels),
                          num_parallel_calls=AUTOTUNE)
    if one_hot:
        dataset = one_hot_labels(dataset)
    return dataset.cache().prefetch(AUTOTUNE)
