"""OpenCV: a drawing (made on the page with a mouse, a finger or a pen) -> what a reader reads.

A drawing has no paper, no light and no ruled lines: its ink is simply the pixels of the pen's
colour. So none of the photo cleanup runs (no paper estimate, no ruled-line or stray-ink removal,
which takes a long straight bar for a ruled line): the ink is thresholded, cropped, centred and
scaled exactly as mnist_style does for a photo's digit or line. Every stroke drawn reaches the
model.
"""

from __future__ import annotations

import cv2
import numpy as np

from digits.vision import mnist_style
from digits.vision.ink import MIN_CONTRAST, NoDigitError, to_grey


def drawing_mask(image: np.ndarray) -> np.ndarray:
    """A decoded drawing -> binary mask (255 = ink): Otsu's threshold between the pad and the pen.
    The pad is the commoner of the two (a drawing covers less than half of it); either may be the
    lighter."""
    grey = to_grey(image)
    pad = int(np.median(grey))
    if max(pad - int(grey.min()), int(grey.max()) - pad) < MIN_CONTRAST:
        raise NoDigitError("nothing drawn: the drawing is blank")
    dark_pen = pad - int(grey.min()) >= int(grey.max()) - pad
    polarity = cv2.THRESH_BINARY_INV if dark_pen else cv2.THRESH_BINARY
    return cv2.threshold(grey, 0, 255, polarity | cv2.THRESH_OTSU)[1]


def to_mnist(image: np.ndarray) -> np.ndarray:
    """A decoded drawing of one digit -> uint8 (28, 28), light digit on black, every stroke kept.
    Raises NoDigitError for a blank drawing."""
    return mnist_style.to_mnist_box(drawing_mask(image))


def to_mnist_counting(image: np.ndarray) -> tuple[np.ndarray, int]:
    """to_mnist's 28x28, and how many digits the drawing seems to hold (mnist_style.count_digits
    of the same ink)."""
    mask = drawing_mask(image)
    return mnist_style.to_mnist_box(mask), mnist_style.count_digits(mask)


def number_to_mnist(image: np.ndarray) -> list[np.ndarray]:
    """A decoded drawing of a number -> one uint8 (28, 28) per digit, left to right, cut as
    mnist_style.number_to_mnist cuts a photo's ink."""
    return [mnist_style.to_mnist_box(piece) for piece in mnist_style.split_digits(drawing_mask(image))]


def to_line(image: np.ndarray, height: int = 32) -> np.ndarray:
    """A decoded drawing of a number -> the uint8 (height, W) line a sequence reader reads, as
    mnist_style.to_line makes it of a photo's ink, every stroke kept. Raises NoDigitError."""
    return mnist_style.line_of_mask(drawing_mask(image), height)

