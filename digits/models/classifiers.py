"""One builder per architecture, chosen by the model group's `name`. Input: (28, 28, 1) in [0, 1]."""

from __future__ import annotations

import keras
from keras import layers

from digits.config.models import CnnConfig, CnnGapConfig, MlpConfig, ResnetConfig

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
    """Compact VGG-style net: per block `convs_per_block` 3x3 convs (BN, relu) and a 2x2 max-pool,
    then a dense layer (BN, relu) between dropouts."""
    model = keras.Sequential([keras.Input(INPUT_SHAPE)], name="cnn")
    for filters in cfg.filters:
        for _ in range(cfg.convs_per_block):
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


def conv_bn_relu(x, filters: int, strides: int = 1, relu: bool = True):
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x) if relu else x


def classifier(x, dropout: float):
    """Global average pool, dropout, softmax kept in float32 under mixed precision."""
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    return layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32")(x)


def cnn_gap(cfg: CnnGapConfig) -> keras.Model:
    """Per block `convs_per_block` 3x3 convs (BN, relu), max-pool, dropout; then a global average
    pooling head instead of cnn's dense layer."""
    inputs = x = keras.Input(INPUT_SHAPE)
    for filters in cfg.filters:
        for _ in range(cfg.convs_per_block):
            x = conv_bn_relu(x, filters)
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(cfg.dropout)(x)
    return keras.Model(inputs, classifier(x, cfg.dropout), name="cnn_gap")


def resnet(cfg: ResnetConfig) -> keras.Model:
    """Small pre-classifier ResNet: a 3x3 stem, then stages of two-conv residual blocks; each
    stage after the first halves the size (stride 2) and projects the shortcut with a 1x1 conv."""
    inputs = keras.Input(INPUT_SHAPE)
    x = conv_bn_relu(inputs, cfg.filters[0])
    for stage, filters in enumerate(cfg.filters):
        for block in range(cfg.blocks_per_stage):
            strides = 2 if stage > 0 and block == 0 else 1
            shortcut = x
            if strides > 1 or shortcut.shape[-1] != filters:
                shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False)(x)
                shortcut = layers.BatchNormalization()(shortcut)
            y = conv_bn_relu(x, filters, strides)
            y = conv_bn_relu(y, filters, relu=False)
            x = layers.Activation("relu")(layers.Add()([shortcut, y]))
    return keras.Model(inputs, classifier(x, cfg.dropout), name="resnet")


BUILDERS = {"mlp": mlp, "cnn": cnn, "cnn_gap": cnn_gap, "resnet": resnet}


def build(cfg) -> keras.Model:
    return BUILDERS[cfg.name](cfg)
