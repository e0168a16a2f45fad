"""One builder per architecture, chosen by the model group's `name`. Input: (28, 28, 1) in [0, 1]."""

from __future__ import annotations

import keras
from keras import layers

from digits.config import CnnConfig, MlpConfig

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


def mlp(cfg: MlpConfig) -> keras.Model:
    """The article's network: Flatten -> [Dense relu -> BN] per hidden size -> Dense softmax."""
    model = keras.Sequential([keras.Input(INPUT_SHAPE), layers.Flatten()], name="mlp")
    for units in cfg.hidden_units:
        model.add(layers.Dense(units, activation="relu"))
        if cfg.batch_norm:
            model.add(layers.BatchNormalization())
        if cfg.dropout:
            model.add(layers.Dropout(cfg.dropout))
    model.add(layers.Dense(NUM_CLASSES, activation="softmax"))
    return model


def cnn(cfg: CnnConfig) -> keras.Model:
    """Compact VGG-style net: per block two 3x3 convs (BN, relu) and a 2x2 max-pool."""
    model = keras.Sequential([keras.Input(INPUT_SHAPE)], name="cnn")
    for filters in cfg.filters:
        for _ in range(2):
            model.add(layers.Conv2D(filters, 3, padding="same", use_bias=False))
            model.add(layers.BatchNormalization())
            model.add(layers.Activation("relu"))
        model.add(layers.MaxPooling2D())
    model.add(layers.Flatten())
    model.add(layers.Dropout(cfg.dropout))
    model.add(layers.Dense(cfg.dense_units, use_bias=False))
    model.add(layers.BatchNormalization())
    model.add(layers.Activation("relu"))
    model.add(layers.Dropout(cfg.dropout))
    model.add(layers.Dense(NUM_CLASSES, activation="softmax"))
    return model


BUILDERS = {"mlp": mlp, "cnn": cnn}


def build(cfg) -> keras.Model:
    return BUILDERS[cfg.name](cfg)
