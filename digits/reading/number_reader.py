"""Whole numbers read by a sequence model: the photo's line of ink, the model's reading, and
the whole-number confidence under which a reading is flagged rather than trusted.

digits-predict --number, digits-evaluate and the web server use this for a sequence model (one
(T, 11) distribution per line: crnn.is_sequence_model); a single-digit model keeps reading
numbers by cutting the ink into connected components (mnist_style.number_to_mnist).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from digits.models import crnn, model_files
from digits.runs import metadata
from digits.vision import mnist_style
from digits.vision import number_lines

# The whole-number confidence under which a reading is flagged when the model's metrics.json
# holds no `unsure_below` calibrated on validation numbers.
UNSURE_BELOW = 0.5
# Every line is read in two views, squeezed and stretched in width as training lines are
# (number_lines.scale_width), and the number likeliest over both is kept: on the 2 000
# calibration numbers 0.8575 exact against 0.839 for the line read once (docs/numbers.md).
READ_WIDTHS = (0.85, 1.15)


def unsure_below(model_path: str | Path) -> float:
    """The flagging threshold of the model at `model_path`: `unsure_below` from the metrics.json
    beside it (its run folder, or the shipped model's folder; digits-calibrate writes it), else
    UNSURE_BELOW."""
    return metadata.unsure_below(model_files.resolve(model_path).parent, UNSURE_BELOW)


def line_of(image: np.ndarray) -> np.ndarray:
    """A decoded photo of a number -> the uint8 (32, W) line the model reads (mnist_style.to_line).
    Raises mnist_style.NoDigitError for a photo without ink."""
    return mnist_style.to_line(image)


def views(line: np.ndarray, widths: tuple[float, ...] = READ_WIDTHS) -> list[np.ndarray]:
    """The line at each of `widths` (1.0: as it is), padded with black to one width: one call
    reads them all."""
    resized = [line if factor == 1 else number_lines.scale_width(line, factor)
               for factor in widths]
    width = max(view.shape[1] for view in resized)
    return [np.pad(view, ((0, 0), (0, width - view.shape[1]))) for view in resized]


def read(model: keras.Model, lines: list[np.ndarray],
         widths: tuple[float, ...] = READ_WIDTHS) -> list[crnn.Reading]:
    """One Reading per line, in order: the number likeliest over the line's views at `widths`
    (crnn.likeliest; widths=(1.0,) reads each line once, as it is). A line's reading does not
    depend on the other lines read with it (crnn.line_probabilities)."""
    rows = crnn.ordered_probabilities(
        model, [view for line in lines for view in views(line, widths)])
    count = len(widths)
    return [crnn.likeliest(np.stack(rows[i * count:(i + 1) * count]))
            for i in range(len(lines))]


def is_flagged(reading: crnn.Reading, threshold: float) -> bool:
    """Too unsure to trust: the whole number's confidence is under `threshold`, or no digit was
    read at all from ink that was found."""
    return not reading.number or reading.confidence < threshold


def digit_details(reading: crnn.Reading) -> list[dict]:
    """One {"digit", "confidence"} per digit read, left to right."""
    return [{"digit": int(char), "confidence": float(confidence)}
            for char, confidence in zip(reading.number, reading.digit_confidences)]
