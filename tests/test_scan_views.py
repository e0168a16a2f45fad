"""Scan views (data=handwriting, data.scan_fraction): digits as low-resolution binarised scans."""

import keras
import numpy as np
import pytest
from helpers import SMALL_CNN

from digits.data import reader_views


@pytest.fixture(scope="module")
def mnist():
    with np.load(reader_views.Path(__file__).parents[1] / "digits/resources/mnist.npz") as stored:
        return stored["x_test"][:200], stored["y_test"][:200]


def ink_box(scan: np.ndarray) -> tuple[int, int]:
    rows, columns = np.nonzero(scan < 128)
    return rows.max() - rows.min() + 1, columns.max() - columns.min() + 1


@pytest.mark.parametrize("stretch", [0.0, 1.0])
def test_a_scan_is_dark_ink_on_white_stretched_to_its_box_or_kept_in_shape(mnist, monkeypatch,
                                                                           stretch):
    monkeypatch.setattr(reader_views, "SCAN_STRETCH_PROBABILITY", stretch)
    x, y = mnist
    ones = x[y == 1][:10]  # tall and narrow: stretching shows
    aspects = []
    for seed, digit in enumerate(ones):
        scan = reader_views.scan_of(digit, np.random.default_rng(seed))
        assert scan.dtype == np.uint8 and scan.ndim == 2
        assert (scan[0] > 200).all() and (scan[:, 0] > 200).all()  # a white margin
        height, width = ink_box(scan)
        aspects.append(width / height)
    if stretch:
        assert np.median(aspects) > 0.7  # the narrow 1 fills its square box
    else:
        assert np.median(aspects) < 0.4  # the 1 stays narrow


def test_scan_views_keep_their_labels(mnist):
    x, y = mnist
    images, labels = reader_views.scan_views(x, y, 1.0, seed=3)
    assert images.shape[1:] == (28, 28) and images.dtype == np.uint8
    assert len(images) == len(labels) >= 0.95 * len(x)
    model = keras.saving.load_model(SMALL_CNN, safe_mode=True)
    predicted = model.predict(images[..., None].astype("float32") / 255, verbose=0).argmax(1)
    # a model trained on MNIST alone reads most scans: the labels are the images' own
    assert (predicted == labels).mean() > 0.6


def test_scan_views_are_the_same_for_the_same_seed_and_differ_for_another(mnist):
    x, y = mnist
    first, _ = reader_views.scan_views(x[:20], y[:20], 0.5, seed=1)
    again, _ = reader_views.scan_views(x[:20], y[:20], 0.5, seed=1)
    other, _ = reader_views.scan_views(x[:20], y[:20], 0.5, seed=2)
    assert len(first) == 10
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other[:len(first)])
