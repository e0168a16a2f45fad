"""Seconds per epoch of the article's recipe (augmented MLP, Adam, batch 32, 50 000 images):
digits vs the article's own Keras 2 code (ImageDataGenerator.flow + model.fit, tf-keras), side by
side in one run. The last epoch counts (the first includes tracing and cache filling).
python benchmarks/epoch_time.py [--epochs 2] [--steps-per-execution 8]    Needs the `bench` extra (tf-keras)."""

from __future__ import annotations

import argparse
import time

import numpy as np

from _common import SEED, article_generator, article_keras2_model, article_training_data
from digits.models import classifiers
from digits.training import trainer
from digits.config.schemas import TrainerConfig
from digits.config.models import MlpConfig


def epoch_seconds(fit, epochs: int) -> float:
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        fit()
        times.append(time.perf_counter() - start)
    return times[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps-per-execution", type=int, default=8)
    args = parser.parse_args()
    dataset, x, y = article_training_data(32)
    digits_s = {}
    for steps in (1, args.steps_per_execution):  # Keras' default, then several steps per call
        model = classifiers.build(MlpConfig())
        trainer.compile_model(model, TrainerConfig(steps_per_execution=steps))
        digits_s[steps] = epoch_seconds(lambda: model.fit(dataset, epochs=1, verbose=0),
                                        args.epochs)

    flow = article_generator().flow(np.expand_dims(x, -1).astype("float32") / 255.0, y,
                                    batch_size=32, seed=SEED)
    keras2 = article_keras2_model()
    keras2_s = epoch_seconds(lambda: keras2.fit(flow, epochs=1, verbose=0), args.epochs)
    for steps, seconds in digits_s.items():
        print(f"digits, steps_per_execution={steps:<3d}     : {seconds:7.1f} s/epoch"
              f"  ({seconds / keras2_s:.2f} of Keras 2's)")
    print(f"article's Keras 2 code (IDG.flow)  : {keras2_s:7.1f} s/epoch")

if __name__ == "__main__":
    main()
