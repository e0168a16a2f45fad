"""Photos of whole numbers in one hand (issue 14): what `digits-handwriting --numbers` writes.

Every digit is drawn by hands.draw_digit exactly as a single-digit photo's digit is (the hand's
face, slant, width, pen, ink, wobble, 1s and 7s), then written on one line after the one before,
and the line is photographed the way hands.photograph photographs one digit (tinted paper,
uneven light, the hand's ink, blur, noise, JPEG). Pairs are spaced and classed as
numbers_data's synthetic numbers are (overlapping, touching, tight, wide, measured in MNIST
pixels: a hand's digit is as tall on its canvas as an MNIST digit in 28 px), so the two sets can
be compared by spacing.

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
from digits.data.numbers import composed
from digits.data.numbers.composed import (KEEP_SPACING, MAX_DIGITS, OVERLAP_COLUMNS, OVERLAP_DEPTH,
                                 SINGLE, SPACING_WEIGHTS, SPACINGS, TIGHT_GAP, WIDE_GAP)

UNIT = hands.CANVAS / 28  # canvas px per MNIST px: spacing thresholds are numbers_data's, scaled
INK = 0.5  # coverage at or above which a pixel is ink (composed.INK_LEVEL's grey 128)
BASELINE_WOBBLE = 1.5  # MNIST px a digit may sit above or below the line
MIN_ADVANCE = composed.MIN_ADVANCE  # MNIST px between neighbouring digits' centres
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


def pair_spacing(mask_a: np.ndarray, mask_b: np.ndarray) -> str:
    """composed.pair_spacing at canvas scale: the class of two placed digits' ink."""
    a_right = np.flatnonzero(mask_a.any(axis=0)).max()
    b_left = np.flatnonzero(mask_b.any(axis=0)).min()
    if a_right - b_left + 1 >= OVERLAP_COLUMNS * UNIT:
        return "overlapping"
    if (cv2.dilate(mask_a.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & mask_b).any():
        return "touching"
    return "tight" if b_left - a_right - 1 <= TIGHT_GAP * UNIT else "wide"


def place_column(wanted: str, mask_a: np.ndarray, mask_b: np.ndarray,
                 rng: np.random.Generator) -> int:
    """The column of b (a full-height crop) that gives the wanted spacing to a (the line so far,
    its last digit's ink), as composed.place_column does at MNIST scale."""
    a_cols, b_cols = (np.flatnonzero(m.any(axis=0)) for m in (mask_a, mask_b))
    start = a_cols.max() + 2 - b_cols.min()  # b's ink two columns right of a's: apart
    near_a = cv2.dilate(mask_a.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    contact = composed.first_contact(near_a, mask_b, 0, start,
                                         max(0, a_cols.min() - mask_b.shape[1]))
    if wanted == "wide":
        x = start + int(rng.uniform(WIDE_GAP[0] - 1, WIDE_GAP[1]) * UNIT)
    elif contact is None:  # b passes a without meeting it: close, not touching
        x = start - 1
    elif wanted == "touching":
        x = contact
    elif wanted == "tight":
        x = contact + 1 + int(rng.uniform(0, TIGHT_GAP) * UNIT)
    else:  # overlapping: past first contact, sharing OVERLAP_COLUMNS (MNIST px) columns at least
        x = min(contact - int(rng.uniform(1, OVERLAP_DEPTH + 1) * UNIT),
                a_cols.max() - int(np.ceil(OVERLAP_COLUMNS * UNIT)) + 1 - b_cols.min())
    a_centre = (a_cols.min() + a_cols.max()) / 2
    b_centre = (b_cols.min() + b_cols.max()) / 2
    return max(x, int(np.ceil(a_centre + MIN_ADVANCE * UNIT - b_centre)), 0)


def draw_number(label: str, hand: hands.Hand, rng: np.random.Generator) -> HandNumber:
    """The number written in `hand` on one line: ink coverage, and each pair's spacing class."""
    wanted = SPACINGS[int(rng.choice(len(SPACINGS), p=SPACING_WEIGHTS))]
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
            spacing = wanted if rng.random() < KEEP_SPACING else SPACINGS[int(rng.integers(4))]
            column = place_column(spacing, previous, crop >= INK, rng)
        placed = np.zeros(line.shape, bool)
        placed[:, column:column + crop.shape[1]] = crop >= INK
        region = line[:, column:column + crop.shape[1]]
        np.maximum(region, crop, out=region)
        if previous is not None:
            gaps.append(pair_spacing(previous, placed))
        previous = placed
    ys, xs = np.nonzero(line > 0.05)
    coverage = line[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    spacing = min(gaps, key=SPACINGS.index) if gaps else SINGLE
    return HandNumber(label, coverage.copy(), tuple(gaps), spacing)


def photograph_line(coverage: np.ndarray, ink: tuple[int, int, int],
                    rng: np.random.Generator) -> np.ndarray:
    """A line's ink coverage -> a BGR photo of it somewhere in a phone-sized frame, as large as
    number_photos.photo_view's numbers."""
    height, width = int(rng.integers(300, 480)), int(rng.integers(360, 640))
    fit = min(0.9 * width / coverage.shape[1], 0.85 * height / coverage.shape[0])
    factor = fit * rng.uniform(0.55, 1.0)
    size = (max(1, round(coverage.shape[1] * factor)), max(1, round(coverage.shape[0] * factor)))
    small = cv2.resize(coverage, size, interpolation=cv2.INTER_AREA if factor < 1
                       else cv2.INTER_LINEAR)
    frame = np.zeros((height, width), np.float32)
    top = int(rng.integers(0, height - size[1] + 1))
    left = int(rng.integers(0, width - size[0] + 1))
    frame[top:top + size[1], left:left + size[0]] = small
    return hands.camera(hands.on_paper(frame, ink, rng), rng)


def number_photo(hand_index: int, seed: int, index: int,
                 lengths: tuple[int, int] = (1, MAX_DIGITS)) -> tuple[np.ndarray, HandNumber]:
    """Photo `index` of hand `hand_index` drawn with `seed`: (BGR photo, the number written)."""
    hand, rng = hands.make_hand(hand_index), np.random.default_rng([seed, hand_index, index])
    number = draw_number(random_label(rng, lengths), hand, rng)
    return photograph_line(number.coverage, hand.ink, rng), number


def file_name(hand_index: int, seed: int, index: int, label: str) -> str:
    return f"hand{hand_index}_seed{seed}_{index:04d}_{label}.jpg"


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
