"""data=handwriting: MNIST extended by what the photo reader makes of it, built once and cached."""

from __future__ import annotations

import numpy as np
import pytest

from digits.synth import corruptions
from digits.data import datasets
from digits.synth import hands
from digits.data import reader_views
from digits.vision import mnist_style
from digits.config.schemas import DataConfig, HandwritingDataConfig


@pytest.fixture(scope="module")
def few_digits():
    splits = datasets.load(DataConfig(train_size=20, val_size=10, test_size=10), seed=3)
    return splits.x_train, splits.y_train


def test_a_reader_view_is_what_the_reader_makes_of_the_rendered_photo(few_digits):
    x, _ = few_digits
    seed = next(s for s in range(50) if reader_views.reader_view(x[0], s) is not None)
    photo = reader_views.photo_of(x[0], np.random.default_rng(seed))
    assert photo.shape[0] >= 300 and photo.dtype == np.uint8  # a photo, not a 28x28
    np.testing.assert_array_equal(reader_views.reader_view(x[0], seed), mnist_style.to_mnist(photo))


def test_reader_views_keep_each_image_with_its_label(few_digits):
    x, y = few_digits
    images, labels = reader_views.reader_views(x, y, seed=1)
    again, _ = reader_views.reader_views(x, y, seed=1)
    np.testing.assert_array_equal(images, again)  # seeded: the same views every time
    assert images.shape[1:] == (28, 28) and len(images) == len(labels) >= len(x) - 2
    # every view is the one of the image with its label: recompute them one by one
    seeds = np.random.default_rng([1, 1]).integers(0, 2**63, len(x))
    expected = [(view, label) for image, label, seed in zip(x, y, seeds.tolist())
                if (view := reader_views.reader_view(image, seed)) is not None]
    np.testing.assert_array_equal(labels, [label for _, label in expected])
    np.testing.assert_array_equal(images, np.stack([view for view, _ in expected]))


def test_training_data_never_uses_unseen_hands_or_held_out_corruptions():
    with pytest.raises(ValueError, match="kept for measuring"):
        reader_views.hand_view(3, hands.UNSEEN_HANDS[0], seed=0, index=0)
    assert not set(reader_views.PHOTO_CORRUPTIONS) & corruptions.HELD_OUT
    assert reader_views.PHOTO_CORRUPTIONS  # the names it picks all exist among the families
    assert set(reader_views.PHOTO_CORRUPTIONS) <= set(corruptions.training_corruptions())


def test_handwriting_data_extends_train_and_validation_and_caches_them(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITS_CACHE", str(tmp_path))
    cfg = HandwritingDataConfig(train_size=20, val_size=10, test_size=10, reader_copies=1,
                                hand_photos=1, corrupted_fraction=0.5, val_reader_copies=1)
    plain = datasets.load(DataConfig(train_size=20, val_size=10, test_size=10), seed=0)
    splits = datasets.load(cfg, seed=0)
    training_hands = len(hands.training_hands())
    # MNIST first, then reader views (<= 20), hand photos (<= 10 per hand), corrupted (10)
    np.testing.assert_array_equal(splits.x_train[:20], plain.x_train)
    assert 20 + 18 + 10 * training_hands - 5 + 10 <= len(splits.x_train) <= 50 + 10 * training_hands
    np.testing.assert_array_equal(splits.x_val[:10], plain.x_val)
    assert 10 < len(splits.x_val) <= 20
    np.testing.assert_array_equal(splits.x_test, plain.x_test)  # the test split is MNIST's own
    cached = sorted(path.name.split("-")[0] + "-" + path.name.split("-")[1]
                    for path in tmp_path.glob("*.npz"))
    assert cached == ["train-corrupted", "train-hands", "train-reader", "validation-reader"]
    again = datasets.load(cfg, seed=0)  # read back from the cache
    np.testing.assert_array_equal(again.x_train, splits.x_train)
    np.testing.assert_array_equal(again.y_train, splits.y_train)
