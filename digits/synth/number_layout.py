"""The layout of a number's digits on a line: how far apart neighbouring digits are written, and
how a placed pair is classed by its ink.

Distances are in MNIST pixels (a digit is about 20 px tall), so numbers composed from MNIST digits
(data.numbers.composed, `unit` 1) and numbers written in a hand on its larger canvas
(hand_numbers, `unit` canvas px per MNIST px) are spaced and classed alike. A pair is, the most
severe first:
- overlapping: the two digits share at least OVERLAP_COLUMNS columns;
- touching: their ink is 8-connected (the component reader sees one blob);
- tight: apart, at most TIGHT_GAP clear columns between them;
- wide: further apart.
A number's spacing is its most severe pair's (SINGLE for one digit).
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_DIGITS = 8
SPACINGS = ("overlapping", "touching", "tight", "wide")  # most severe first
SINGLE = "single"  # the spacing of a one-digit number
SPACING_WEIGHTS = (0.15, 0.3, 0.3, 0.25)  # a number's intended spacing; a pair keeps it
KEEP_SPACING = 0.9  # of the time, else draws its own
OVERLAP_COLUMNS = 3
TIGHT_GAP = 3  # MNIST px of clear columns
WIDE_GAP = (4, 12)
OVERLAP_DEPTH = 4  # px an overlapping digit moves left past first contact, at most
MIN_ADVANCE = 8  # px between neighbouring digits' centres: reading order, and CTC time steps


def intended_spacing(rng: np.random.Generator) -> str:
    """The spacing a number is written with (SPACING_WEIGHTS)."""
    return SPACINGS[int(rng.choice(len(SPACINGS), p=SPACING_WEIGHTS))]


def pair_intent(wanted: str, rng: np.random.Generator) -> str:
    """The spacing one pair is placed with: the number's, KEEP_SPACING of the time."""
    return wanted if rng.random() < KEEP_SPACING else SPACINGS[int(rng.integers(4))]


def number_spacing(gaps: tuple[str, ...] | list[str]) -> str:
    """A number's spacing: the most severe of its pairs', or SINGLE."""
    return min(gaps, key=SPACINGS.index) if gaps else SINGLE


def grown(mask: np.ndarray) -> np.ndarray:
    """The ink grown by one pixel: ink that meets it is 8-connected to `mask`."""
    return cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def first_contact(near_a: np.ndarray, mask_b: np.ndarray, top: int, start: int, stop: int):
    """Moving b left from column `start`, the first column where its ink meets near_a (a's ink
    grown by one pixel, so meeting means 8-connected); None if it never does before `stop`."""
    rows, cols = mask_b.shape
    for x in range(start, stop - 1, -1):
        if (near_a[top:top + rows, x:x + cols] & mask_b).any():
            return x
    return None


def pair_spacing(mask_a: np.ndarray, mask_b: np.ndarray, unit: float = 1) -> str:
    """The spacing class of two placed digits' ink (bool masks of the line), a left of b, on a
    line of `unit` px per MNIST px."""
    a_right = np.flatnonzero(mask_a.any(axis=0)).max()
    b_left = np.flatnonzero(mask_b.any(axis=0)).min()
    if a_right - b_left + 1 >= OVERLAP_COLUMNS * unit:
        return "overlapping"
    if (grown(mask_a) & mask_b).any():
        return "touching"
    return "tight" if b_left - a_right - 1 <= TIGHT_GAP * unit else "wide"


def distance(rng: np.random.Generator, low: float, high: float, unit: float) -> int:
    """A distance drawn in [low, high) MNIST px, in px of the line: whole pixels at MNIST scale
    (unit 1), any fraction of an MNIST pixel on a larger canvas."""
    if unit == 1:
        return int(rng.integers(low, high))
    return int(rng.uniform(low, high) * unit)


def place_column(wanted: str, mask_a: np.ndarray, mask_b: np.ndarray, rng: np.random.Generator,
                 top: int = 0, unit: float = 1) -> int:
    """The column of b's crop (mask_b, its top row at `top`) that gives the wanted spacing to a
    (mask_a: a's ink on the line), on a line of `unit` px per MNIST px."""
    a_cols, b_cols = (np.flatnonzero(mask.any(axis=0)) for mask in (mask_a, mask_b))
    start = a_cols.max() + 2 - b_cols.min()  # b's ink two columns right of a's: apart
    contact = first_contact(grown(mask_a), mask_b, top, start,
                            max(0, a_cols.min() - mask_b.shape[1]))
    if wanted == "wide":
        x = start + distance(rng, WIDE_GAP[0] - 1, WIDE_GAP[1], unit)
    elif contact is None:  # b's ink passes a's without meeting it (rare): close, not touching
        x = start - 1
    elif wanted == "touching":
        x = contact
    elif wanted == "tight":
        x = contact + 1 + distance(rng, 0, TIGHT_GAP, unit)
    else:  # overlapping: past first contact, sharing OVERLAP_COLUMNS columns at least
        x = min(contact - distance(rng, 1, OVERLAP_DEPTH + 1, unit),
                a_cols.max() - int(np.ceil(OVERLAP_COLUMNS * unit)) + 1 - b_cols.min())
    a_centre = (a_cols.min() + a_cols.max()) / 2
    b_centre = (b_cols.min() + b_cols.max()) / 2
    return max(x, int(np.ceil(a_centre + MIN_ADVANCE * unit - b_centre)), 0)
