"""Several digits where one is expected: a photo read without --number that holds a number says
so (mnist_style.count_digits), and what the model reads is still exactly mnist_style.to_mnist's."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from digits import predict
from digits.models import model_files
from digits.vision import image_files
from digits.vision import mnist_style
from digits.reading import digit_reader
from helpers import PHOTOS, SMALL_CNN, drawn_digit, labelled_photos

SINGLE = [(path, label) for path, label in labelled_photos() if len(label) == 1]
NUMBERS = [(path, label) for path, label in labelled_photos() if len(label) > 1]


def test_the_samples_hold_single_digits_and_numbers():
    assert len(SINGLE) >= 5 and len(NUMBERS) >= 2


@pytest.mark.parametrize("path,label", SINGLE, ids=[p.name for p, _ in SINGLE])
def test_a_photo_of_one_digit_counts_one(path, label):
    image = image_files.decode(path)
    box, count = mnist_style.to_mnist_counting(image)
    assert count == 1
    np.testing.assert_array_equal(box, mnist_style.to_mnist(image))


@pytest.mark.parametrize("path,label", NUMBERS, ids=[p.name for p, _ in NUMBERS])
def test_a_photo_of_a_number_counts_its_digits(path, label):
    image = image_files.decode(path)
    box, count = mnist_style.to_mnist_counting(image)
    assert count == len(label)  # the sample numbers' digits stand apart
    np.testing.assert_array_equal(box, mnist_style.to_mnist(image))


def test_one_digit_broken_in_two_halves_counts_one():
    image = drawn_digit("0")
    mask = mnist_style.ink_mask(mnist_style.to_grey(image))
    columns = np.nonzero(mask.any(axis=0))[0]
    middle = int((columns[0] + columns[-1]) / 2 * image.shape[1] / mask.shape[1])
    cv2.line(image, (middle, 0), (middle, image.shape[0]), (235, 235, 235), 14)  # paper-coloured
    broken = mnist_style.ink_mask(mnist_style.to_grey(image))
    assert len(mnist_style.column_groups(broken)[1]) == 2  # two tall pieces side by side...
    assert mnist_style.count_digits(broken) == 1  # ...but together narrower than one digit is tall


def test_digits_predict_warns_of_a_number_and_only_of_it(tmp_path):
    readings = digit_reader.read_files(model_files.load(SMALL_CNN),
                                  [str(path) for path, _ in SINGLE + NUMBERS])
    for reading, (_, label) in zip(readings, SINGLE + NUMBERS):
        expected = f"looks like {len(label)} digits: try --number" if len(label) > 1 else None
        assert reading.warning == expected
    table = predict.table(readings, number=False)
    assert "looks like 4 digits: try --number" in table
    assert json.loads(json.dumps(readings[-1].to_json(False)))["warning"].startswith("looks like")
    assert "warning" not in digit_reader.read_files(model_files.load(SMALL_CNN),
                                               [str(NUMBERS[0][0])], number=True)[0].to_json(True)


def test_the_photos_folder_is_what_the_tests_read():
    assert {path.parent for path, _ in labelled_photos()} == {PHOTOS}
