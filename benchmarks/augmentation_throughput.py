"""Augmented images per second: digits' tf.data pipeline vs Keras 2's ImageDataGenerator, both
with the article's settings (rotation 15, shifts 0.15, zoom 0.15, inversion p=0.5), batch 32,
side by side in one run.  python benchmarks/augmentation_throughput.py [--images N]
Needs the `bench` extra (tf-keras) for the ImageDataGenerator side."""

from __future__ import annotations

import argparse
import time

import numpy as np

from _common import SEED, article_generator, article_training_data

BATCH = 32


def images_per_second(batches, count: int) -> float:
    seen, start = 0, time.perf_counter()
    for images, _ in batches:
        seen += len(images)
        if seen >= count:
            break
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200_000)  # long enough to time steadily
    args = parser.parse_args()
    dataset, x, y = article_training_data(BATCH)
    images_per_second(dataset.take(20), BATCH * 20)  # warm-up: tracing, cache filling
    digits_rate = images_per_second(dataset.repeat(), args.images)

    flow = article_generator().flow(np.expand_dims(x, -1).astype("float32") / 255.0, y,
                                    batch_size=BATCH, seed=SEED)
    keras2_rate = images_per_second(flow, args.images)
    print(f"digits tf.data pipeline      : {digits_rate:10.0f} images/s")
    print(f"Keras 2 ImageDataGenerator   : {keras2_rate:10.0f} images/s")
    print(f"speed-up                     : {digits_rate / keras2_rate:10.1f}x")


if __name__ == "__main__":
    main()
