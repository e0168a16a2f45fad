"""Lines of ink as a sequence reader reads them (mnist_style.to_line's uint8 (height, W), light
on black): a line scaled in width, and lines of different widths padded into one batch. Training
(data.numbers) and reading (models.crnn, reading.number_reader) shape lines the same way here."""

from __future__ import annotations

import cv2
import numpy as np


def scale_width(line: np.ndarray, factor: float) -> np.ndarray:
    """The line `factor` times as wide (narrow or wide handwriting), its height kept."""
    width = max(1, round(line.shape[1] * factor))
    return cv2.resize(line, (width, line.shape[0]), interpolation=cv2.INTER_AREA
                      if factor < 1 else cv2.INTER_LINEAR)


def pad_lines(lines: list[np.ndarray], min_width: int = 0, multiple: int = 32) -> np.ndarray:
    """Lines of different widths -> float32 (n, height, W, 1) in [0, 1], black on the right;
    W rounded up to a multiple (fewer input shapes: fewer traced graphs when training)."""
    width = max(min_width, max(line.shape[1] for line in lines))
    width = -(-width // multiple) * multiple
    out = np.zeros((len(lines), lines[0].shape[0], width, 1), np.float32)
    for row, line in enumerate(lines):
        out[row, :, :line.shape[1], 0] = line / np.float32(255)
    return out
