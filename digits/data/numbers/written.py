"""A composed number's line (composed.compose's Number.line) written down and read back, as the
reader sees it.

The line is drawn in pen ink (as reader_views.pen_ink draws one digit) and either seen clean or
photographed (in a phone-sized frame, on paper, through the camera: hands' photo frame; sometimes
a photo corruption, as reader_views.photo_of), and read back with mnist_style.to_line exactly as
the reader sees a photo.
"""

from __future__ import annotations

import cv2
import numpy as np

from digits.synth import corruptions
from digits.synth import hands
from digits.data import reader_views
from digits.vision import mnist_style

LINE_HEIGHT = 32  # rows of what the reader reads back (mnist_style.to_line)
# A photographed line is written uphill or downhill this often, by up to LINE_TILT degrees (the
# reader levels lines of three or more digits; shorter ones and blobs of touching digits keep it).
TILT_PROBABILITY, LINE_TILT = 0.5, 10.0
CLEAN_SCALE = (2.0, 4.0)  # px per MNIST px when a line is drawn without a photo
# A cut photo (training only, data.cut_fraction): the line runs off the top or bottom of the
# frame, losing up to this share of its ink's height (a tightly framed photo).
CUT_DEPTH = (0.1, 0.3)


def pen_coverage(line: np.ndarray, factor: float, rng: np.random.Generator,
                 outline: float = reader_views.OUTLINE_PROBABILITY) -> np.ndarray:
    """The composed line drawn with a pen at `factor` px per MNIST px: float32 ink coverage,
    MNIST's grey edge made the pen's edge as reader_views.pen_ink does for one digit; hollow
    (outlined) strokes with probability `outline`."""
    size = (max(1, round(line.shape[1] * factor)), max(1, round(line.shape[0] * factor)))
    grey = cv2.resize(line.astype(np.float32) / 255, size, interpolation=cv2.INTER_CUBIC)
    # steep enough that paper (grey 0) stays clear at any edge level
    coverage = reader_views.pen_edge(grey, factor, rng, min_slope=3.0)
    if rng.random() < outline:
        pen = max(2, int(factor * 2))
        coverage = hands.hollow_out((coverage * 255).astype(np.uint8), pen) / np.float32(255)
    return coverage.astype(np.float32)


def clean_view(line: np.ndarray, rng: np.random.Generator,
               outline: float = reader_views.OUTLINE_PROBABILITY) -> np.ndarray:
    """The line in dark ink on white paper, no camera: uint8 grey."""
    coverage = pen_coverage(line, rng.uniform(*CLEAN_SCALE), rng, outline)
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


def cut_placement(coverage: np.ndarray, height: int, rng: np.random.Generator) -> int:
    """The top row of `coverage` in a frame `height` rows tall that leaves CUT_DEPTH of its
    ink's height outside the frame, at the top or the bottom."""
    rows = np.flatnonzero(coverage.max(axis=1) > 0.5)
    depth = int(round(rng.uniform(*CUT_DEPTH) * (rows[-1] - rows[0] + 1)))
    if rng.random() < 0.5:
        return height - 1 + depth - int(rows[-1])  # the bottom of the ink below the frame
    return -depth - int(rows[0])  # the top of the ink above it


def photo_view(line: np.ndarray, rng: np.random.Generator,
               outline: float = reader_views.OUTLINE_PROBABILITY, cut: float = 0.0) -> np.ndarray:
    """The line written on paper and photographed (sometimes with a photo corruption); outlined
    with probability `outline`, run off the frame's top or bottom edge with probability `cut`."""
    frame = hands.frame_size(rng)
    tilt = rng.uniform(-LINE_TILT, LINE_TILT) if rng.random() < TILT_PROBABILITY else 0.0
    line_width, line_height = tilted_size(*line.shape, tilt)
    factor = hands.line_scale(line_height, line_width, frame, rng)
    coverage = tilted(pen_coverage(line, factor, rng, outline), tilt)
    top, left = hands.position(coverage.shape, frame, rng)
    if cut and rng.random() < cut:  # drawn only when asked: the fixed sets' photos stay the same
        top = cut_placement(coverage, frame[0], rng)
    ink = hands.NEW_INKS[int(rng.integers(len(hands.NEW_INKS)))]
    photo = hands.shoot(hands.in_frame(coverage, frame, top, left), ink, rng)
    if rng.random() < reader_views.PHOTO_CORRUPTION_PROBABILITY:
        name = reader_views.PHOTO_CORRUPTIONS[int(rng.integers(len(reader_views.PHOTO_CORRUPTIONS)))]
        grey = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
        photo = corruptions.corrupt(grey, name, rng, unit=factor, ink_is_light=False)
    return photo


def view(line: np.ndarray, rng: np.random.Generator, photo: bool, height: int = LINE_HEIGHT,
         outline: float = reader_views.OUTLINE_PROBABILITY,
         cut: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A composed number's line (uint8, MNIST scale) written down, and what the reader makes of
    it: (the image, a photo or the clean view; uint8 (height, W) from mnist_style.to_line). A
    photo the reader finds no ink in (a harsh corruption) is replaced by the clean view. A
    component reader reads the image. `outline` and `cut`: see photo_view (training numbers may
    ask for more of either)."""
    if photo:
        image = photo_view(line, rng, outline, cut)
        try:
            return image, mnist_style.to_line(image, height)
        except mnist_style.NoDigitError:
            pass
    image = clean_view(line, rng, outline)
    try:
        return image, mnist_style.to_line(image, height)
    except mnist_style.NoDigitError:  # thin ink on a tiny share of the page reads as blank paper
        rows, cols = np.nonzero(image < 255)
        margin = max(4, (rows.max() - rows.min()) // 4)
        image = image[max(0, rows.min() - margin):rows.max() + margin + 1,
                      max(0, cols.min() - margin):cols.max() + margin + 1]
        return image, mnist_style.to_line(image, height)


def render(line: np.ndarray, rng: np.random.Generator, photo: bool, height: int = LINE_HEIGHT,
           outline: float = reader_views.OUTLINE_PROBABILITY, cut: float = 0.0) -> np.ndarray:
    """What the reader makes of a composed number's line written down: uint8 (height, W) from
    mnist_style.to_line (see view)."""
    return view(line, rng, photo, height, outline, cut)[1]
