"""Augmentation as Keras layers, built from the augmentation config group.

Rotation, shift and zoom are one fused random affine transform (one matrix, one resampling per
image) rather than three Keras layers that each resample; inversion is Keras' own RandomInvert.
Every layer is registered, so a saved augmentation model loads with ``safe_mode=True``.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from digits.config.schemas import AugmentationConfig


@keras.saving.register_keras_serializable(package="digits")
class RandomAffine(keras.layers.Layer):
    """Random rotation (degrees), shift (fraction of the size) and zoom, as in Keras 2's
    ImageDataGenerator(rotation_range, width_shift_range, height_shift_range, zoom_range).

    Each image gets its own draw; the zoom factors of the two axes are drawn independently.
    Input: (batch, height, width, channels) floats. Identity outside training.
    """

    def __init__(self, rotation_degrees=0.0, width_shift=0.0, height_shift=0.0, zoom=0.0,
                 fill_mode="nearest", fill_value=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rotation_degrees = rotation_degrees
        self.width_shift = width_shift
        self.height_shift = height_shift
        self.zoom = zoom
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = False

    def call(self, images, training=True):
        if not training:
            return images
        return self.transform_images(images, self.get_random_transformation(images))

    def get_random_transformation(self, images, training=True):
        """One (batch, 8) projective transform per image, as ImageProjectiveTransform takes it."""
        batch, height, width = ops.shape(images)[0], ops.shape(images)[1], ops.shape(images)[2]

        def uniform(bound):
            return keras.random.uniform((batch,), -bound, bound, seed=self.seed_generator)

        angle = uniform(math.radians(self.rotation_degrees))
        shift_x = uniform(self.width_shift) * ops.cast(width, "float32")
        shift_y = uniform(self.height_shift) * ops.cast(height, "float32")
        zoom_x = 1.0 + uniform(self.zoom)
        zoom_y = 1.0 + uniform(self.zoom)
        # Output pixel -> input pixel: rotate and scale about the centre, then shift.
        centre_x = (ops.cast(width, "float32") - 1.0) / 2.0
        centre_y = (ops.cast(height, "float32") - 1.0) / 2.0
        cos, sin = ops.cos(angle), ops.sin(angle)
        a0, a1 = cos * zoom_x, -sin * zoom_y
        b0, b1 = sin * zoom_x, cos * zoom_y
        a2 = centre_x + shift_x - (a0 * centre_x + a1 * centre_y)
        b2 = centre_y + shift_y - (b0 * centre_x + b1 * centre_y)
        zeros = ops.zeros_like(angle)
        return ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)

    def transform_images(self, images, transformation, training=True):
        return ops.image.affine_transform(images, transformation, interpolation="bilinear",
                                          fill_mode=self.fill_mode, fill_value=self.fill_value)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rotation_degrees": self.rotation_degrees,
                "width_shift": self.width_shift, "height_shift": self.height_shift,
                "zoom": self.zoom, "fill_mode": self.fill_mode, "fill_value": self.fill_value,
                "seed": self.seed}


# Layers that draw all their randomness in get_random_transformation and none in transform_images,
# so a pipeline can draw in order and resample in parallel (Keras' elastic transform draws while it
# transforms).
DRAW_THEN_TRANSFORM = (RandomAffine, keras.layers.RandomInvert)


def draws_apart(augmentation: keras.Sequential) -> bool:
    """True when every layer separates drawing its parameters from applying them."""
    return all(isinstance(layer, DRAW_THEN_TRANSFORM) for layer in augmentation.layers)


def build(cfg: AugmentationConfig, seed: int | None = None) -> keras.Sequential:
    """The training-time augmentation for images scaled to [0, 1], shape (batch, 28, 28, 1)."""
    layers = []
    if cfg.rotation_degrees or cfg.width_shift or cfg.height_shift or cfg.zoom:
        layers.append(RandomAffine(cfg.rotation_degrees, cfg.width_shift, cfg.height_shift,
                                   cfg.zoom, fill_mode=cfg.fill_mode.value, seed=seed,
                                   name="random_affine"))
    if cfg.invert_probability:
        # factor (p, p): the probability is exactly p (a single number would draw it from [0, p]).
        layers.append(keras.layers.RandomInvert(
            factor=(cfg.invert_probability, cfg.invert_probability), value_range=(0.0, 1.0),
            seed=None if seed is None else seed + 1, name="random_invert"))
    if cfg.elastic_probability:
        layers.append(keras.layers.RandomElasticTransform(
            factor=cfg.elastic_probability, scale=cfg.elastic_scale, fill_mode="constant",
            value_range=(0.0, 1.0), seed=None if seed is None else seed + 2,
            name="random_elastic"))
    if cfg.erasing_probability:
        layers.append(keras.layers.RandomErasing(
            factor=cfg.erasing_probability, scale=(0.02, cfg.erasing_scale),
            value_range=(0.0, 1.0), seed=None if seed is None else seed + 3,
            name="random_erasing"))
    return keras.Sequential([keras.Input((28, 28, 1)), *layers], name="augmentation")
