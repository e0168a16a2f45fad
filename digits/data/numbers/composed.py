"""data=numbers: synthetic handwritten numbers composed from MNIST digits.

A number is 1 to MAX_DIGITS digit images of ONE split (training numbers from the training split
only, validation from validation, test from test), written on a line at MNIST scale: each digit
scaled, slanted and set on a wobbling baseline, then placed after the previous one and its pair
classed by its ink (pixels >= INK_LEVEL) as it ended up (number_layout: overlapping, touching,
tight, wide). Now and then a 7 gets a European bar (drawn, sometimes clear of the stem), or a 5's
flag or a 4's top is cut loose with the eraser; `detached` says whether a piece really came
apart. The line is then written down and read back as the reader sees it (written: clean or
photographed, then mnist_style.to_line).

Every number has its own generators keyed on (seed, epoch, index): a resumed run draws the same
numbers, another epoch different ones. fixed_sets holds the fixed test and validation sets.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from digits.data import reader_views
from digits.data.numbers import written
from digits.synth import hand_numbers
from digits.synth import hands
from digits.synth import number_layout
from digits.synth.number_layout import MAX_DIGITS, WIDE_GAP
from digits.vision import mnist_style
from digits.vision.number_lines import pad_lines, scale_width

INK_LEVEL = 128  # uint8 grey at or above which a pixel is ink, for spacing and contact
DIGIT_SCALE = (0.85, 1.15)
NUMBER_SLANT, DIGIT_SLANT = 0.3, 0.1  # horizontal shear per unit height, either way
BASELINE_WOBBLE = 2.5  # px: the largest rise or fall of a digit's baseline
DETACH_PROBABILITY = 0.3  # of a 4, 5 or 7
DETACH_LEVEL = int(reader_views.STROKE_LEVEL[0] * 255)  # the heaviest pen still draws this grey
PHOTO_FRACTION = 0.5  # the share of example, batch and fixed-set numbers that are photographed
_DIGIT_CANVAS = 48  # a warped 28x28 digit fits this square
_LINE_ROWS, _BASELINE = 64, 50


@dataclass
class Number:
    label: str
    line: np.ndarray  # uint8 (rows, cols): the composed ink at MNIST scale, light on black
    sources: np.ndarray  # the digits' indices into the split's x, left to right
    gaps: tuple[str, ...]  # the spacing class of each neighbouring pair
    spacing: str  # the most severe of gaps, or number_layout.SINGLE
    detached: tuple[bool, ...]  # per digit: a stroke stands apart from the rest
    masks: list[np.ndarray]  # per digit: its ink (bool, the line's shape)

    def metadata(self) -> dict:
        return {"label": self.label, "length": len(self.label), "spacing": self.spacing,
                "gaps": list(self.gaps), "detached": list(self.detached)}


def split_arrays(splits, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) numbers of `split` are made from: never another split's digits."""
    return {"train": (splits.x_train, splits.y_train), "validation": (splits.x_val, splits.y_val),
            "test": (splits.x_test, splits.y_test)}[split]


def detach_stroke(grey: np.ndarray, digit: int, rng: np.random.Generator):
    """A 7's European bar, a 5's flag or a 4's top cut loose -> (image, whether a piece stands
    apart now at the heaviest pen's level)."""
    out = grey.copy()
    ink = grey >= INK_LEVEL
    ys, xs = np.nonzero(ink)
    top, left, right = ys.min(), xs.min(), xs.max()
    height = ys.max() - top + 1
    if digit == 7:  # a bar across the middle, drawn in ink, through the stem or clear of it
        row = int(top + rng.uniform(0.45, 0.6) * height)
        cols = np.flatnonzero(ink[row])
        stem = int(cols.mean()) if cols.size else (left + right) // 2
        if rng.random() < 0.5:
            start, stop = stem - int(0.3 * height), stem + int(0.2 * height)
        else:  # clear of the stem by more than the heaviest pen's edge adds
            stop = int(cols.min() if cols.size else stem) - 5
            start = stop - int(0.3 * height)
        cv2.line(out, (start, row), (stop, row), 255, 2, cv2.LINE_AA)
    elif digit == 5:  # the flag cut from the stem just below it
        row = int(top + max(3, 0.22 * height))
        cv2.line(out, (left - 2, row), ((left + right) // 2, row), 0, 3)
    else:  # 4: the left arm lifted off the crossbar (the first of two strokes above the bar)
        bar = int(top + 0.4 * height + np.argmax(ink[top + int(0.4 * height):
                                                     top + int(0.8 * height)].sum(axis=1)))
        row = bar - 3
        starts = np.flatnonzero(np.diff(np.r_[0, ink[row].astype(np.int8)]) == 1)
        ends = np.flatnonzero(np.diff(np.r_[ink[row].astype(np.int8), 0]) == -1)
        if len(starts) >= 2:  # the arm and the stem are apart here: cut the arm's foot
            cv2.line(out, (int(starts[0]) - 1, bar - 2), (int(ends[0]) + 1, bar - 2), 0, 3)
    pieces = cv2.connectedComponents((grey >= DETACH_LEVEL).astype(np.uint8), connectivity=8)[0]
    after = cv2.connectedComponents((out >= DETACH_LEVEL).astype(np.uint8), connectivity=8)[0]
    return out, after > pieces


def shaped_digit(image: np.ndarray, slant: float, rng: np.random.Generator) -> np.ndarray:
    """A 28x28 digit scaled and slanted about its centre, cropped to its ink."""
    scale, centre = rng.uniform(*DIGIT_SCALE), _DIGIT_CANVAS / 2
    matrix = np.float32([[scale, -slant * scale, centre - 14 * scale + 14 * slant * scale],
                         [0, scale, centre - 14 * scale]])
    warped = cv2.warpAffine(image, matrix, (_DIGIT_CANVAS, _DIGIT_CANVAS), flags=cv2.INTER_LINEAR)
    ys, xs = np.nonzero(warped)
    return warped[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def compose(x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
            length: int | None = None) -> Number:
    """A number of `length` digits (random 1..MAX_DIGITS if None) from x[i], y[i] of one split."""
    length = int(rng.integers(1, MAX_DIGITS + 1)) if length is None else length
    sources = rng.integers(0, len(x), length)
    wanted = number_layout.intended_spacing(rng)
    slant = rng.uniform(-NUMBER_SLANT, NUMBER_SLANT)
    amplitude, period = rng.uniform(0, BASELINE_WOBBLE), rng.uniform(3, 8)
    phase = rng.uniform(0, 2 * np.pi)
    line = np.zeros((_LINE_ROWS, length * (_DIGIT_CANVAS + WIDE_GAP[1]) + 2 * _DIGIT_CANVAS),
                    np.uint8)
    masks, detached, gaps = [], [], []
    for position, source in enumerate(sources):
        image, digit = x[source], int(y[source])
        broken = False
        if digit in (4, 5, 7) and rng.random() < DETACH_PROBABILITY:
            image, broken = detach_stroke(image, digit, rng)
        crop = shaped_digit(image, slant + rng.uniform(-DIGIT_SLANT, DIGIT_SLANT), rng)
        baseline = _BASELINE + amplitude * np.sin(2 * np.pi * position / period + phase)
        top = int(round(baseline + rng.uniform(-0.5, 0.5))) - crop.shape[0]
        mask_b = crop >= INK_LEVEL
        if masks:
            column = number_layout.place_column(number_layout.pair_intent(wanted, rng),
                                                masks[-1], mask_b, rng, top)
        else:
            column = _DIGIT_CANVAS
        region = (slice(top, top + crop.shape[0]), slice(column, column + crop.shape[1]))
        np.maximum(line[region], crop, out=line[region])
        mask = np.zeros(line.shape, bool)
        mask[region] = mask_b
        if masks:
            gaps.append(number_layout.pair_spacing(masks[-1], mask))
        masks.append(mask)
        detached.append(bool(broken))
    rows, cols = np.flatnonzero(line.any(axis=1)), np.flatnonzero(line.any(axis=0))
    keep = (slice(max(0, rows.min() - 4), rows.max() + 5),
            slice(max(0, cols.min() - 4), cols.max() + 5))
    masks = [mask[keep] for mask in masks]
    return Number(label="".join(str(int(y[s])) for s in sources), line=line[keep].copy(),
                  sources=sources, gaps=tuple(gaps), spacing=number_layout.number_spacing(gaps),
                  detached=tuple(detached), masks=masks)


def example(x, y, seed: int, epoch: int, index: int, photo_fraction: float = PHOTO_FRACTION,
            lengths: tuple[int, int] = (1, MAX_DIGITS),
            outline_fraction: float = reader_views.OUTLINE_PROBABILITY, cut_fraction: float = 0.0):
    """Number `index` of `epoch`: (line uint8 (32, W), Number), the same for the same keys.
    outline_fraction, cut_fraction: see written.photo_view."""
    rng = np.random.default_rng([seed, epoch, index, 0])
    number = compose(x, y, rng, int(rng.integers(lengths[0], lengths[1] + 1)))
    look = np.random.default_rng([seed, epoch, index, 1])
    return written.render(number.line, look, photo=bool(look.random() < photo_fraction),
                          outline=outline_fraction, cut=cut_fraction), number


def hand_example(seed: int, epoch: int, index: int, lengths: tuple[int, int] = (1, MAX_DIGITS)):
    """Number `index` of `epoch` written in a training hand (digits-handwriting's Hershey hands,
    never hands.UNSEEN_HANDS) and photographed, as the reader sees it: (line, HandNumber)."""
    pick = np.random.default_rng([seed, epoch, index, 4])
    hand = int(pick.choice(hands.training_hands()))
    hands.check_training_draw(hand, seed)
    photo, number = hand_numbers.number_photo(hand, seed, epoch * 10_000_000 + index, lengths)
    try:
        return mnist_style.to_line(photo, written.LINE_HEIGHT), number
    except mnist_style.NoDigitError:
        return None, number


def training_example(x, y, seed: int, epoch: int, index: int,
                     photo_fraction: float = PHOTO_FRACTION,
                     lengths: tuple[int, int] = (1, MAX_DIGITS), hand_fraction: float = 0.0,
                     width_scale: tuple[float, float] = (1.0, 1.0),
                     outline_fraction: float = reader_views.OUTLINE_PROBABILITY,
                     cut_fraction: float = 0.0):
    """A training number: from MNIST digits (example, outlined or cut off by the photo's edge
    as often as asked) or, `hand_fraction` of the time, in a training hand (hand_example); its
    line then scaled in width by a factor drawn from `width_scale`. The same for the same
    keys."""
    pick = np.random.default_rng([seed, epoch, index, 3])
    line = None
    if pick.random() < hand_fraction:
        line, number = hand_example(seed, epoch, index, lengths)
    if line is None:
        line, number = example(x, y, seed, epoch, index, photo_fraction, lengths,
                               outline_fraction, cut_fraction)
    factor = pick.uniform(*width_scale)
    return (line if factor == 1.0 else scale_width(line, factor)), number


def encode(labels: list[str], max_length: int = MAX_DIGITS) -> np.ndarray:
    """Labels -> int32 (n, max_length): digit d as d + 1, padded with 0 (Keras' CTC blank/pad)."""
    out = np.zeros((len(labels), max_length), np.int32)
    for row, label in enumerate(labels):
        out[row, :len(label)] = [int(char) + 1 for char in label]
    return out


def batch(x, y, seed: int, epoch: int, step: int, batch_size: int,
          photo_fraction: float = PHOTO_FRACTION, lengths: tuple[int, int] = (1, MAX_DIGITS),
          time_stride: int = 4, hand_fraction: float = 0.0,
          width_scale: tuple[float, float] = (1.0, 1.0),
          outline_fraction: float = reader_views.OUTLINE_PROBABILITY, cut_fraction: float = 0.0):
    """Batch `step` of `epoch`: (inputs (n, 32, W, 1), targets (n, MAX_DIGITS), numbers), drawn
    by training_example on every core; each number keyed on (seed, epoch, step * batch_size + i);
    padded for CTC by ctc_batch."""
    indices = range(step * batch_size, (step + 1) * batch_size)
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        made = list(pool.map(lambda i: training_example(
            x, y, seed, epoch, i, photo_fraction, lengths, hand_fraction, width_scale,
            outline_fraction, cut_fraction), indices))
    numbers = [number for _, number in made]
    inputs, targets = ctc_batch([line for line, _ in made], [n.label for n in numbers],
                                time_stride)
    return inputs, targets, numbers


def ctc_batch(lines: list[np.ndarray], labels: list[str], time_stride: int):
    """(inputs, targets) to train on: the lines padded wide enough for CTC (2 time steps per
    digit of the longest label and one more: a blank between repeats), the labels encoded."""
    longest = max(len(label) for label in labels)
    return pad_lines(lines, time_stride * (2 * longest + 1)), encode(labels)
