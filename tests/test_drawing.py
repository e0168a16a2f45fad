"""The drawing path (digits.vision.drawing): every stroke drawn on the page reaches the reader."""

import cv2
import numpy as np
import pytest

from digits.models import model_files
from digits.reading import digit_reader
from digits.vision import drawing
from digits.vision.ink import NoDigitError

PAD = (400, 600)


def drawn(strokes, pen=24, shape=PAD, ink=17, paper=255) -> np.ndarray:
    """Strokes (lists of (x, y) px) drawn as the page draws them: round pen, dark on white."""
    pad = np.full((*shape, 3), paper, np.uint8)
    for stroke in strokes:
        cv2.polylines(pad, [np.int32(stroke)], False, (ink,) * 3, pen, cv2.LINE_AA)
    return pad


# The mouse-drawn digits that the photo cleanup misread: a wide 7 (a bar over half the pad,
# then the diagonal), a 2 with a long flat base, a 4 with a long crossbar.
WIDE_SEVEN = [[(150, 80), (450, 80), (250, 340)]]
LONG_BASE_TWO = [[(170, 140), (230, 75), (350, 70), (410, 140), (370, 210), (160, 330), (460, 330)]]
LONG_BAR_FOUR = [[(320, 60), (150, 260), (470, 260)], [(390, 150), (390, 350)]]


def test_the_bar_of_a_wide_seven_is_kept():
    box = drawing.to_mnist(drawn(WIDE_SEVEN))
    assert box.shape == (28, 28) and box.dtype == np.uint8
    rows = np.flatnonzero(box.max(axis=1) > 128)
    top = box[rows[0]:rows[0] + 3]
    # the bar spans most of the digit's width at its top
    columns = np.flatnonzero(box.max(axis=0) > 128)
    assert np.count_nonzero(top.max(axis=0) > 128) >= 0.7 * len(columns)


@pytest.fixture(scope="module")
def digit_reader_model():
    return model_files.load(model_files.default_model_path("digit"))


def test_the_shipped_reader_reads_straight_mouse_strokes_as_drawings(digit_reader_model):
    pads = [drawn(WIDE_SEVEN), drawn(LONG_BASE_TWO), drawn(LONG_BAR_FOUR)]
    readings = digit_reader.read_digits(digit_reader_model, pads, source="drawing")
    assert [reading.digit for reading in readings] == [7, 2, 4], readings


def test_an_unknown_source_is_refused(digit_reader_model):
    with pytest.raises(ValueError, match="photo, drawing"):
        digit_reader.read_digits(digit_reader_model, [drawn(WIDE_SEVEN)], source="sketch")


def test_light_ink_on_a_dark_pad_is_read_the_same():
    dark = drawing.to_mnist(drawn(WIDE_SEVEN))
    light = drawing.to_mnist(drawn(WIDE_SEVEN, ink=240, paper=20))
    assert np.abs(dark.astype(int) - light.astype(int)).mean() < 3


def test_a_blank_drawing_is_no_digit():
    with pytest.raises(NoDigitError, match="nothing drawn"):
        drawing.to_mnist(drawn([]))


def test_a_drawn_number_keeps_every_stroke_in_its_line():
    # "17": a 1 and, well apart, a 7 whose bar a photo's cleanup could take for a ruled line
    strokes = [[(60, 40), (60, 200)], [(120, 40), (330, 40), (190, 200)]]
    line = drawing.to_line(drawn(strokes, pen=12, shape=(240, 400)))
    assert line.shape[0] == 32
    columns = np.flatnonzero(line.max(axis=0) > 128)
    gaps = np.flatnonzero(np.diff(columns) > 1)
    assert len(gaps) == 1  # two pieces, the 1 and the whole 7
    seven = line[:, columns[gaps[0] + 1]:columns[-1] + 1]
    assert np.count_nonzero(seven[:8].max(axis=0) > 128) >= 0.8 * seven.shape[1]  # its bar
