"""data.pool_size > 0: training numbers drawn once, then read many times (data=numbers).

Drawing a number (composing it, photographing half of them, reading the line back with
mnist_style.to_line) costs several times what training on it does, so with new numbers every batch the
CRNN waits on the drawing. A pool draws `pool_size` training numbers once, as training_example
draws them (training split only, hands, photos, sloping lines), caches them outside the
repository like data=handwriting's views (reader_views.cached), and every batch picks numbers of
its lengths from it, each line scaled in width anew (data.width_scale_min/max). Batches are keyed
on (seed, epoch, step) as before, so a resumed run reads exactly what it would have read.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from digits.data.numbers import composed
from digits.synth import number_layout
from digits.data import reader_views
from digits.vision import mnist_style
from digits.vision import number_lines

log = logging.getLogger(__name__)

# bump when the numbers drawn change (composed, written, hands, number_layout,
# mnist_style.to_line); 2: a photo whose thin writing covers under 1 % of it is read, not replaced
# by a clean view
POOL_VERSION = 2
POOL_EPOCH = 1_000_000  # the epoch key of pool numbers: apart from any epoch's fresh numbers
LABELS = np.dtype([("label", f"U{number_layout.MAX_DIGITS}"), ("width", np.int32)])


@dataclass
class Pool:
    """Lines side by side in one uint8 (32, total width) array, and each one's label and width."""
    lines: np.ndarray
    labels: np.ndarray  # LABELS records

    def __post_init__(self) -> None:
        self.starts = np.concatenate([[0], np.cumsum(self.labels["width"])[:-1]])
        self.lengths = np.char.str_len(self.labels["label"])

    def line(self, index: int) -> np.ndarray:
        start = self.starts[index]
        return self.lines[:, start:start + self.labels["width"][index]]


def draw(x, y, size: int, seed: int, photo_fraction: float, lengths: tuple[int, int],
         hand_fraction: float, workers: int | None = None,
         outline_fraction: float = reader_views.OUTLINE_PROBABILITY,
         cut_fraction: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """`size` training numbers (unscaled lines): (lines side by side, LABELS records), drawn by
    `workers` threads (default: one per CPU; OpenCV and numpy release the GIL: two threads draw
    1.8 times as fast as one, benchmarks/number_pool.py). Each number is keyed on its index,
    so the pool is the same however many threads draw it."""
    def one(index):
        line, number = composed.training_example(
            x, y, seed, POOL_EPOCH, index, photo_fraction, lengths, hand_fraction,
            outline_fraction=outline_fraction, cut_fraction=cut_fraction)
        return line, number.label

    made = []
    with ThreadPoolExecutor(workers or os.cpu_count()) as pool:
        for made_count, item in enumerate(pool.map(one, range(size)), start=1):
            made.append(item)
            if made_count % max(1, size // 10) == 0:
                log.info("numbers pool: %d of %d drawn", made_count, size)
    labels = np.array([(label, line.shape[1]) for line, label in made], LABELS)
    return np.concatenate([line for line, _ in made], axis=1), labels


def load(x, y, size: int, seed: int, photo_fraction: float, lengths: tuple[int, int],
         hand_fraction: float, outline_fraction: float = reader_views.OUTLINE_PROBABILITY,
         cut_fraction: float = 0.0) -> Pool:
    """The pool for these options: read from the cache, or drawn (and cached) the first time."""
    key = [POOL_VERSION, mnist_style.LINE_VERSION, x, y, size, seed, photo_fraction, lengths,
           hand_fraction, outline_fraction, cut_fraction]
    lines, labels = reader_views.cached(
        "train-numbers", key,
        lambda: draw(x, y, size, seed, photo_fraction, lengths, hand_fraction,
                     outline_fraction=outline_fraction, cut_fraction=cut_fraction))
    return Pool(lines, labels)


def batch(pool: Pool, seed: int, epoch: int, step: int, batch_size: int,
          lengths: tuple[int, int], time_stride: int, width_scale: tuple[float, float]):
    """Batch `step` of `epoch` from the pool: (inputs (n, 32, W, 1), targets, labels), numbers
    of `lengths` only (a batch is as wide as its longest line), each scaled in width anew."""
    rng = np.random.default_rng([seed, epoch, step, 5])
    fitting = np.flatnonzero((pool.lengths >= lengths[0]) & (pool.lengths <= lengths[1]))
    chosen = rng.choice(fitting, batch_size, replace=len(fitting) < batch_size)
    lines = [number_lines.scale_width(pool.line(i), rng.uniform(*width_scale))
             for i in chosen]
    labels = [str(pool.labels["label"][i]) for i in chosen]
    return (*composed.ctc_batch(lines, labels, time_stride), labels)
