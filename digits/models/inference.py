"""A digit model run on MNIST-style images: what every reader, evaluation and calibration calls.

The model runs as one compiled graph for any batch size (calling a Keras model eagerly runs it
layer by layer, several times slower than the whole graph for one small image), its input
scaled as in training (pipeline.normalise), in batches of BATCH_SIZE images.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import tensorflow as tf

from digits.data import pipeline

BATCH_SIZE = 1000
COMPILED_MODELS = 16  # graphs kept: the models of one command (an ensemble's members too)


@functools.lru_cache(maxsize=COMPILED_MODELS)
def compiled(model: keras.Model):
    """The model's graph on uint8 (n, 28, 28) images, traced once."""
    return tf.function(lambda images: model(pipeline.normalise(images), training=False),
                       input_signature=[tf.TensorSpec([None, 28, 28], tf.uint8)])


def predict(model: keras.Model, images: np.ndarray | list[np.ndarray]) -> np.ndarray:
    """uint8 (n, 28, 28) images -> the model's outputs (n, classes): a digit model's class
    probabilities (or logits, for a model ending in a linear Dense)."""
    if len(images) == 0:
        return np.zeros((0, model.output_shape[-1]), np.float32)
    images = np.asarray(images, np.uint8)
    run = compiled(model)
    return np.concatenate([run(images[start:start + BATCH_SIZE]).numpy()
                           for start in range(0, len(images), BATCH_SIZE)])
