"""Photos of whole numbers in one hand: what `digits-handwriting --numbers` writes.

Every digit is drawn by hands.draw_digit exactly as a single-digit photo's digit is (the hand's
face, slant, width, pen, ink, wobble, 1s and 7s), then written on one line after the one before,
and the line is photographed the way hands.photograph photographs one digit (tinted paper,
uneven light, the hand's ink, blur, noise, JPEG). Pairs are spaced and classed as the synthetic
numbers composed from MNIST digits are (number_layout: overlapping, touching, tight, wide,
measured in MNIST pixels: a hand's digit is as tall on its canvas as an MNIST digit in 28 px), so
the two sets can be compared by spacing.

A number's photo has its own generator, keyed on (seed, hand, index): the first N photos of a folder
are the same whatever the count asked for. The label is in the file name:
handH_seedS_K_NUMBER.jpg (`label_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from digits.synth import hands
from digits.synth import number_layout
from digits.synth.number_layout import MAX_DIGITS, WIDE_GAP

UNIT = hands.CANVAS / 28  # canvas px per MNIST px: number_layout's distances, scaled
INK = 0.5  # coverage at or above which a pixel is ink (MNIST's grey 128)
BASELINE_WOBBLE = 1.5  # MNIST px a digit may sit above or below the line
_PAD = int(np.ceil(BASELINE_WOBBLE * UNIT))


@dataclass
class HandNumber:
    label: str
    coverage: np.ndarray  # float32 ink coverage (0..1) of the written line, cropped to its ink
    gaps: tuple[str, ...]  # the spacing class of each neighbouring pair
    spacing: str  # the most severe of gaps, or SINGLE


def random_label(rng: np.random.Generator, lengths: tuple[int, int] = (1, MAX_DIGITS)) -> str:
    """A number of lengths[0] .. lengths[1] digits, any digit anywhere (leading 0s too)."""
    length = int(rng.integers(lengths[0], lengths[1] + 1))
    return "".join(str(d) for d in rng.integers(0, 10, length))


def draw_number(label: str, hand: hands.Hand, rng: np.random.Generator) -> HandNumber:
    """The number written in `hand` on one line: ink coverage, and each pair's spacing class."""
    wanted = number_layout.intended_spacing(rng)
    rows = hands.CANVAS + 2 * _PAD
    advance = hands.CANVAS + int(np.ceil(WIDE_GAP[1] * UNIT)) + 2  # at most, per digit
    line = np.zeros((rows, (len(label) + 1) * advance), np.float32)
    previous, gaps = None, []
    for char in label:
        ink = hands.draw_digit(int(char), hand, rng)
        cols = np.flatnonzero((ink >= INK).any(axis=0))
        if cols.size == 0:  # a hollow, faint glyph: keep whatever it drew
            cols = np.flatnonzero(ink.any(axis=0))
        crop = np.zeros((rows, cols.max() - cols.min() + 1), np.float32)
        top = _PAD + int(round(rng.uniform(-1, 1) * BASELINE_WOBBLE * UNIT))
        crop[top:top + hands.CANVAS] = ink[:, cols.min():cols.max() + 1]
        if previous is None:
            column = hands.CANVAS // 2
        else:
            column = number_layout.place_column(number_layout.pair_intent(wanted, rng), previous,
                                                crop >= INK, rng, unit=UNIT)
        placed = np.zeros(line.shape, bool)
        placed[:, column:column + crop.shape[1]] = crop >= INK
        region = line[:, column:column + crop.shape[1]]
        np.maximum(region, crop, out=region)
        if previous is not None:
            gaps.append(number_layout.pair_spacing(previous, placed, UNIT))
        previous = placed
    ys, xs = np.nonzero(line > 0.05)
    coverage = line[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    return HandNumber(label, coverage.copy(), tuple(gaps), number_layout.number_spacing(gaps))


def photograph_line(coverage: np.ndarray, ink: tuple[int, int, int],
                    rng: np.random.Generator) -> np.ndarray:
    """A line's ink coverage -> a BGR photo of it somewhere in a phone-sized frame, as large as
    composed numbers are written (hands.line_scale)."""
    frame = hands.frame_size(rng)
    factor = hands.line_scale(*coverage.shape, frame, rng)
    size = (max(1, round(coverage.shape[1] * factor)), max(1, round(coverage.shape[0] * factor)))
    small = cv2.resize(coverage, size, interpolation=cv2.INTER_AREA if factor < 1
                       else cv2.INTER_LINEAR)
    return hands.shoot(hands.in_frame(small, frame, *hands.position(small.shape, frame, rng)),
                       ink, rng)


def number_photo(hand_index: int, seed: int, index: int,
                 lengths: tuple[int, int] = (1, MAX_DIGITS)) -> tuple[np.ndarray, HandNumber]:
    """Photo `index` of hand `hand_index` drawn with `seed`: (BGR photo, the number written)."""
    hand, rng = hands.make_hand(hand_index), np.random.default_rng([seed, hand_index, index])
    number = draw_number(random_label(rng, lengths), hand, rng)
    return photograph_line(number.coverage, hand.ink, rng), number


def file_name(hand_index: int, seed: int, index: int, label: str) -> str:
    return f"hand{hand_index}_seed{seed}_{index:04d}_{label}.jpg"


def holds_photos(out_dir: Path, hand_index: int, seed: int) -> bool:
    """Whether OUT_DIR already holds photos of numbers in this hand drawn with this seed."""
    return any(out_dir.glob(f"hand{hand_index}_seed{seed}_*.jpg"))


def label_of(path) -> str:
    """The number a photo written by write_numbers shows, from its name."""
    return Path(path).stem.rsplit("_", 1)[1]


def write_numbers(out_dir: Path, count: int, hand_index: int, seed: int) -> list[Path]:
    """OUT_DIR/handH_seedS_K_NUMBER.jpg for K < count; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        photo, number = number_photo(hand_index, seed, index)
        path = out_dir / file_name(hand_index, seed, index, number.label)
        if not cv2.imwrite(str(path), photo):
            raise OSError(f"cannot write {path}")
        paths.append(path)
    return paths
