"""Wall time to >= 0.995 test accuracy: `digits-train experiment=fast` vs the keras.io "Simple
MNIST convnet" example (Conv32-pool-Conv64-pool-Flatten-Dropout0.5-Dense10, Adam, batch 128,
15 epochs, validation_split 0.1), side by side in one run.
python benchmarks/time_to_accuracy.py [--convnet-epochs 15]"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
from hydra import compose, initialize_config_module
from keras import layers

from digits.config import schemas
from digits.data import datasets
from digits.training.train_digits import run_training


def keras_io_convnet(epochs: int) -> tuple[float, float]:
    """(seconds to train, test accuracy) of the keras.io example, as published."""
    mnist = datasets.read_npz(Path(str(datasets.BUNDLED_MNIST)))  # the full 60 000 / 10 000, as keras.io
    x_train = mnist["x_train"][..., None].astype("float32") / 255
    y_train = keras.utils.to_categorical(mnist["y_train"], 10)
    x_test = mnist["x_test"][..., None].astype("float32") / 255
    y_test = keras.utils.to_categorical(mnist["y_test"], 10)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Flatten(), layers.Dropout(0.5), layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=128, epochs=epochs, validation_split=0.1, verbose=0)
    seconds = time.perf_counter() - start
    return seconds, float(model.evaluate(x_test, y_test, verbose=0)[1])


def digits_fast() -> tuple[float, float, dict]:
    """(seconds to train, whole-run seconds, metrics) of experiment=fast."""
    schemas.register_configs()
    with initialize_config_module("digits.conf", version_base="1.3"):
        cfg = schemas.to_objects(compose("train", overrides=["experiment=fast",
                                                            "trainer.verbose=0"]))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        metrics = run_training(cfg, Path(run_dir))
    return metrics["train_seconds"], time.perf_counter() - start, metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--convnet-epochs", type=int, default=15)
    args = parser.parse_args()
    fast_train, fast_total, fast = digits_fast()
    print(f"digits experiment=fast : {fast_train:7.1f} s training ({fast_total:.1f} s whole run"
          f" with data, evaluation, artefacts), test accuracy {fast['test_accuracy']:.4f}"
          f" (inverted {fast['inverted_test_accuracy']:.4f})", flush=True)
    convnet_seconds, convnet_accuracy = keras_io_convnet(args.convnet_epochs)
    print(f"keras.io convnet       : {convnet_seconds:7.1f} s training ({args.convnet_epochs}"
          f" epochs), test accuracy {convnet_accuracy:.4f}")
    print(f"ratio fast / convnet   : {fast_train / convnet_seconds:7.2f}")


if __name__ == "__main__":
    main()
