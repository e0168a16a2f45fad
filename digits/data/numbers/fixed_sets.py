"""The fixed evaluation numbers, composed by composed.compose and seen through written.view.

The fixed test set is fixed_set(x_test, y_test): TEST_COUNT (5 000) numbers from MNIST's test
split with TEST_SEED; the fixed validation numbers are fixed_set(x_val, y_val, count,
VALIDATION_SEED), from the validation split. Each is the same every time: number `index` is keyed
on (seed, 0, index), its length from fixed_lengths.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from digits.data.numbers import written
from digits.data.numbers.composed import PHOTO_FRACTION, compose
from digits.synth.number_layout import MAX_DIGITS

TEST_SEED, VALIDATION_SEED = 14_000, 14_001
TEST_COUNT = 5_000


def fixed_lengths(count: int, seed: int) -> np.ndarray:
    """Lengths exactly uniform over 1..MAX_DIGITS (as near as count allows), in seeded order."""
    return np.random.default_rng(seed).permutation(np.arange(count) % MAX_DIGITS + 1)


def fixed_numbers(x, y, count: int, seed: int):
    """The numbers of a fixed set, composed only (for their metadata): a generator."""
    for index, length in enumerate(fixed_lengths(count, seed)):
        yield compose(x, y, np.random.default_rng([seed, 0, index, 0]), int(length))


def fixed_item(x, y, index: int, length: int, seed: int = TEST_SEED,
               photo_fraction: float = PHOTO_FRACTION, cut: float = 0.0):
    """Item `index` of a fixed set (its length from fixed_lengths): (the image, the line, the
    Number), the image being what a component reader reads of the same number (see
    written.view; `cut`: the share of photos run off the frame's top or bottom edge)."""
    number = compose(x, y, np.random.default_rng([seed, 0, index, 0]), int(length))
    look = np.random.default_rng([seed, 0, index, 1])
    image, line = written.view(number.line, look, photo=bool(look.random() < photo_fraction),
                               cut=cut)
    return image, line, number


def fixed_set(x, y, count: int = TEST_COUNT, seed: int = TEST_SEED,
              photo_fraction: float = PHOTO_FRACTION, cut: float = 0.0):
    """A fixed evaluation set: (lines, labels, metadata), the same every time. The test set is
    fixed_set(x_test, y_test); validation numbers use x_val and VALIDATION_SEED; photo_fraction=1
    and cut=1 give photos every one of which is cut by the frame (benchmarks/validation_numbers.py
    --cut)."""
    def made(index_and_length):
        _, line, number = fixed_item(x, y, *index_and_length, seed, photo_fraction, cut)
        return line, number.label, number.metadata()

    with ThreadPoolExecutor(os.cpu_count()) as pool:
        items = list(pool.map(made, enumerate(fixed_lengths(count, seed))))
    return [i[0] for i in items], [i[1] for i in items], [i[2] for i in items]
