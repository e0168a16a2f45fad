"""Shared by the benchmark scripts: the article's Keras 2 code (tf-keras, the `bench` extra)."""

from __future__ import annotations

import numpy as np

from digits.data import augment
from digits.data import datasets
from digits.data import training_batches
from digits.config.schemas import AugmentationConfig, DataConfig

SEED = 42


def mnist_splits(seed: int = SEED):
    """The same split digits trains on (50 000 train, 10 000 validation, 10 000 test)."""
    return datasets.load(DataConfig(), seed)


def article_training_data(batch_size: int = 32):
    """digits' training pipeline with the article's augmentation, and the raw (x, y) it reads."""
    splits = mnist_splits()
    recipe = AugmentationConfig(rotation_degrees=15, width_shift=0.15, height_shift=0.15,
                                zoom=0.15, invert_probability=0.5)
    dataset = training_batches.training_dataset(splits.x_train, splits.y_train, batch_size,
                                                SEED, augment.build(recipe, SEED))
    return dataset, splits.x_train, splits.y_train


def article_generator():
    """Keras 2's ImageDataGenerator with the article's settings, inverting half the images."""
    from tf_keras.preprocessing.image import ImageDataGenerator

    rng = np.random.default_rng(SEED)

    def maybe_invert(image):
        return 1.0 - image if rng.random() < 0.5 else image

    return ImageDataGenerator(rotation_range=15, width_shift_range=0.15, height_shift_range=0.15,
                              zoom_range=0.15, preprocessing_function=maybe_invert)


def article_keras2_model():
    """The article's MLP in Keras 2 (tf-keras), compiled as in the article."""
    import tf_keras as k2

    model = k2.Sequential([
        k2.layers.Flatten(input_shape=(28, 28, 1)),
        k2.layers.Dense(256, activation="relu"), k2.layers.BatchNormalization(),
        k2.layers.Dense(128, activation="relu"), k2.layers.BatchNormalization(),
        k2.layers.Dense(64, activation="relu"), k2.layers.BatchNormalization(),
        k2.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
