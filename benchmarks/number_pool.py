"""Drawing data.pool_size's training numbers: one thread against one per CPU core, side by side
in one run, as experiment=numbers draws them (photos half the time, a quarter in training hands).
    python benchmarks/number_pool.py [--numbers N]
Both pools are compared number for number: they must be the same."""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from _common import mnist_splits
from digits.data.numbers import number_pool

PHOTO_FRACTION, LENGTHS, HAND_FRACTION = 0.5, (1, 8), 0.25  # experiment=numbers' data options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=2000)
    args = parser.parse_args()
    splits = mnist_splits()
    cores = os.cpu_count() or 1
    pools, seconds = {}, {}
    for workers in (1, cores):
        start = time.perf_counter()
        pools[workers] = number_pool.draw(splits.x_train, splits.y_train, args.numbers, 42,
                                          PHOTO_FRACTION, LENGTHS, HAND_FRACTION, workers=workers)
        seconds[workers] = time.perf_counter() - start
        print(f"{workers} thread(s): {args.numbers} numbers in {seconds[workers]:.1f} s "
              f"({1000 * seconds[workers] / args.numbers:.1f} ms a number)", flush=True)
    same = all(np.array_equal(a, b) for a, b in zip(pools[1], pools[cores]))
    print(f"{cores} threads: {seconds[1] / seconds[cores]:.2f}x faster; the same pool: {same}")
    print(f"60 000 numbers: {60000 * seconds[cores] / args.numbers / 60:.1f} min "
          f"(one thread: {60000 * seconds[1] / args.numbers / 60:.1f} min)")


if __name__ == "__main__":
    main()
