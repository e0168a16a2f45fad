"""A composed number (numbers_data.compose) written down and read back, as the reader sees it.

The line is drawn in pen ink (as reader_data.pen_ink draws one digit) and either seen clean or
photographed (hands.on_paper, hands.camera, sometimes a photo corruption, as
reader_data.photo_of), and read back with vision.to_line exactly as the reader sees a photo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from digits import corruptions, hands, reader_data, vision

if TYPE_CHECKING:  # numbers_data imports this module
    from digits.numbers_data import Number

LINE_HEIGHT = 32  # rows of what the reader reads back (vision.to_line)
# A photographed line is written uphill or downhill this often, by up to LINE_TILT degrees (the
# reader levels lines of three or more digits; shorter ones and blobs of touching digits keep it).
TILT_PROBABILITY, LINE_TILT = 0.5, 10.0
CLEAN_SCALE = (2.0, 4.0)  # px per MNIST px when a line is drawn without a photo


def pen_coverage(line: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """The composed line drawn with a pen at `factor` px per MNIST px: float32 ink coverage,
    MNIST's grey edge made the pen's edge as reader_data.pen_ink does for one digit."""
    size = (max(1, round(line.shape[1] * factor)), max(1, round(line.shape[0] * factor)))
    grey = cv2.resize(line.astype(np.float32) / 255, size, interpolation=cv2.INTER_CUBIC)
    # steep enough that paper (grey 0) stays clear at any edge level
    coverage = reader_data.pen_edge(grey, factor, rng, min_slope=3.0)
    if rng.random() < reader_data.OUTLINE_PROBABILITY:
        pen = max(2, int(factor * 2))
        coverage = hands.hollow_out((coverage * 255).astype(np.uint8), pen) / np.float32(255)
    return coverage.astype(np.float32)


def clean_view(line: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The line in dark ink on white paper, no camera: uint8 grey."""
    coverage = pen_coverage(line, rng.uniform(*CLEAN_SCALE), rng)
    margin = coverage.shape[0]  # room around the ink, as on a page
    coverage = np.pad(coverage, ((margin // 2,) * 2, (margin,) * 2))
    return (255 * (1 - coverage)).astype(np.uint8)


def tilted_size(rows: float, cols: float, degrees: float) -> tuple[float, float]:
    """(width, height) of the box that holds a rows x cols image turned by `degrees`."""
    cos, sin = np.cos(np.radians(degrees)), abs(np.sin(np.radians(degrees)))
    return cols * cos + rows * sin, cols * sin + rows * cos


def tilted(coverage: np.ndarray, degrees: float) -> np.ndarray:
    """The ink turned by `degrees` (anticlockwise: written uphill) on a canvas that holds it all."""
    if not degrees:
        return coverage
    rows, cols = coverage.shape
    size = tuple(int(np.ceil(side)) for side in tilted_size(rows, cols, degrees))
    turn = cv2.getRotationMatrix2D((cols / 2, rows / 2), degrees, 1.0)
    turn[:, 2] += (size[0] - cols) / 2, (size[1] - rows) / 2  # centred on the larger canvas
    return cv2.warpAffine(coverage, turn, size, flags=cv2.INTER_LINEAR)


def photo_view(line: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The line written on paper and photographed (sometimes with a photo corruption)."""
    height, width = int(rng.integers(300, 480)), int(rng.integers(360, 640))
    tilt = rng.uniform(-LINE_TILT, LINE_TILT) if rng.random() < TILT_PROBABILITY else 0.0
    line_width, line_height = tilted_size(*line.shape, tilt)
    fit = min(0.9 * width / line_width, 0.85 * height / line_height)
    factor = fit * rng.uniform(0.55, 1.0)  # as large in the frame as hands.place's digits
    coverage = tilted(pen_coverage(line, factor, rng), tilt)
    frame = np.zeros((height, width), np.float32)
    top = int(rng.integers(0, height - coverage.shape[0] + 1))
    left = int(rng.integers(0, width - coverage.shape[1] + 1))
    frame[top:top + coverage.shape[0], left:left + coverage.shape[1]] = coverage
    ink = hands.NEW_INKS[int(rng.integers(len(hands.NEW_INKS)))]
    photo = hands.camera(hands.on_paper(frame, ink, rng), rng)
    if rng.random() < reader_data.PHOTO_CORRUPTION_PROBABILITY:
        name = reader_data.PHOTO_CORRUPTIONS[int(rng.integers(len(reader_data.PHOTO_CORRUPTIONS)))]
        grey = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
        photo = corruptions.corrupt(grey, name, rng, unit=factor, ink_is_light=False)
    return photo


def view(number: Number, rng: np.random.Generator, photo: bool,
         height: int = LINE_HEIGHT) -> tuple[np.ndarray, np.ndarray]:
    """The number written down, and what the reader makes of it: (the image, a photo or the
    clean view; uint8 (height, W) from vision.to_line). A photo the reader finds no ink in (a
    harsh corruption) is replaced by the clean view. A component reader reads the image."""
    if photo:
        image = photo_view(number.line, rng)
        try:
            return image, vision.to_line(image, height)
        except vision.NoDigitError:
            pass
    image = clean_view(number.line, rng)
    try:
        return image, vision.to_line(image, height)
    except vision.NoDigitError:  # thin ink on under 1 % of the page reads as blank paper
        rows, cols = np.nonzero(image < 255)
        margin = max(4, (rows.max() - rows.min()) // 4)
        image = image[max(0, rows.min() - margin):rows.max() + margin + 1,
                      max(0, cols.min() - margin):cols.max() + margin + 1]
        return image, vision.to_line(image, height)


def render(number: Number, rng: np.random.Generator, photo: bool,
           height: int = LINE_HEIGHT) -> np.ndarray:
    """What the reader makes of the number written down: uint8 (height, W) from vision.to_line
    (see view)."""
    return view(number, rng, photo, height)[1]
