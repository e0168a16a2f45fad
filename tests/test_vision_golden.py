"""The reader's output pinned: mnist_style.to_mnist on the sample photos in tests/data/photos must give
exactly the 28x28 images stored in tests/data/to_mnist_golden.npz, and mnist_style.to_line on the
number photos in tests/data/numbers the lines in tests/data/to_line_golden.npz.

Models are trained on what the reader makes of photos (data=handwriting) and record
mnist_style.PREPROCESSING_VERSION in their metrics.json. When this test fails, the reader's output has
changed: if on purpose, bump mnist_style.PREPROCESSING_VERSION (models trained before then see other
inputs than they learned from; mnist_style.LINE_VERSION for to_line) and regenerate the golden files
from the repository's root with

    python tests/test_vision_golden.py

then commit both. If not on purpose, the change is a bug.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from digits.vision import image_files
from digits.vision import mnist_style
from helpers import DATA, PHOTOS

GOLDEN = DATA / "to_mnist_golden.npz"
LINE_GOLDEN = DATA / "to_line_golden.npz"
VERSION_KEY = "preprocessing_version"
LINE_VERSION_KEY = "line_version"
SAMPLES = sorted(path.name for path in PHOTOS.glob("*.jpg"))
NUMBERS = sorted(path.name for path in (DATA / "numbers").glob("*.jpg"))


def read(name: str) -> np.ndarray:
    return mnist_style.to_mnist(image_files.decode(PHOTOS / name))


def regenerate() -> None:
    np.savez_compressed(GOLDEN, **{name: read(name) for name in SAMPLES},
                        **{VERSION_KEY: np.array(mnist_style.PREPROCESSING_VERSION)})
    print(f"wrote {GOLDEN} ({len(SAMPLES)} photos, preprocessing version "
          f"{mnist_style.PREPROCESSING_VERSION})")
    np.savez_compressed(LINE_GOLDEN, **{name: line(name) for name in NUMBERS},
                        **{LINE_VERSION_KEY: np.array(mnist_style.LINE_VERSION)})
    print(f"wrote {LINE_GOLDEN} ({len(NUMBERS)} number photos, line version "
          f"{mnist_style.LINE_VERSION})")


def line(name: str) -> np.ndarray:
    return mnist_style.to_line(image_files.decode(DATA / "numbers" / name))


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN) as stored:
        return {key: stored[key] for key in stored.files}


def test_the_golden_file_is_for_this_preprocessing_version(golden):
    assert int(golden[VERSION_KEY]) == mnist_style.PREPROCESSING_VERSION, (
        "mnist_style.PREPROCESSING_VERSION changed: regenerate the golden file "
        "(python tests/test_vision_golden.py) and commit it")


@pytest.mark.parametrize("name", SAMPLES)
def test_to_mnist_gives_exactly_the_golden_image(golden, name):
    assert name in golden, f"{name} has no golden image: python tests/test_vision_golden.py"
    made = read(name)
    changed = int(np.count_nonzero(made != golden[name]))
    assert made.dtype == np.uint8 and made.shape == (28, 28)
    assert changed == 0, (
        f"mnist_style.to_mnist({name}) changed in {changed} of 784 pixels. If the reader's output "
        "changed on purpose, bump mnist_style.PREPROCESSING_VERSION (models record the version they "
        "were trained with) and regenerate the golden file: python tests/test_vision_golden.py")


def test_to_line_gives_exactly_the_golden_lines():
    with np.load(LINE_GOLDEN) as golden:
        assert int(golden[LINE_VERSION_KEY]) == mnist_style.LINE_VERSION, (
            "mnist_style.LINE_VERSION changed: regenerate the golden files "
            "(python tests/test_vision_golden.py) and commit them")
        for name in NUMBERS:
            made = line(name)
            assert made.shape == golden[name].shape and np.array_equal(made, golden[name]), (
                f"mnist_style.to_line({name}) changed. If on purpose, bump mnist_style.LINE_VERSION (the "
                "number reader records the version it was trained with) and regenerate the "
                "golden files: python tests/test_vision_golden.py")


if __name__ == "__main__":
    regenerate()
    sys.exit(0)
