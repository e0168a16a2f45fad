import keras
import numpy as np
import pytest

from digits.data import augment
from digits.data import datasets
from digits.data import pipeline
from digits.config.schemas import AugmentationConfig, DataConfig


@pytest.fixture(scope="module")
def images():
    splits = datasets.load(DataConfig(val_size=100, train_size=64, test_size=10), seed=0)
    return np.asarray(pipeline.normalise(splits.x_train))


def test_zero_ranges_are_the_identity(images):
    layer = augment.RandomAffine(0.0, 0.0, 0.0, 0.0)
    np.testing.assert_allclose(np.asarray(layer(images, training=True)), images, atol=1e-6)
    assert augment.build(AugmentationConfig()).layers == []


def test_inversion_with_probability_one_inverts_every_image(images):
    model = augment.build(AugmentationConfig(invert_probability=1.0), seed=0)
    np.testing.assert_allclose(np.asarray(model(images, training=True)), 1.0 - images, atol=1e-6)


def test_inversion_probability_is_respected(images):
    model = augment.build(AugmentationConfig(invert_probability=0.5), seed=0)
    batch = np.repeat(images[:1], 2000, axis=0)
    inverted = np.asarray(model(batch, training=True)).mean(axis=(1, 2, 3)) > 0.5
    assert 0.45 < inverted.mean() < 0.55


def test_pure_rotation_rotates_by_at_most_the_configured_angle(images):
    digit = images[:1]
    rotated = np.asarray(augment.RandomAffine(rotation_degrees=15, fill_mode="constant", seed=1)(
        np.repeat(digit, 64, axis=0), training=True))
    assert not np.allclose(rotated, digit)
    # Ink stays the same to within the resampling blur: a rotation neither adds nor removes it.
    np.testing.assert_allclose(rotated.sum(axis=(1, 2, 3)), digit.sum(), rtol=0.08)
    # The principal axis of the ink turns by no more than 15 degrees (plus resampling slack).
    def angle(image):
        ys, xs = np.nonzero(image[..., 0] > 0.5)
        cov = np.cov(np.stack([xs - xs.mean(), ys - ys.mean()]))
        vector = np.linalg.eigh(cov)[1][:, -1]
        return np.degrees(np.arctan2(vector[1], vector[0])) % 180
    turns = [min(abs(angle(r) - angle(digit[0])), 180 - abs(angle(r) - angle(digit[0])))
             for r in rotated]
    assert max(turns) < 20 and max(turns) > 5


def test_shift_moves_the_centre_of_mass_within_range(images):
    layer = augment.RandomAffine(width_shift=0.15, fill_mode="constant", seed=2)
    digit = images[:1]
    shifted = np.asarray(layer(np.repeat(digit, 64, axis=0), training=True))
    def centre_x(image):
        weights = image[..., 0].sum(axis=0)
        return (weights * np.arange(28)).sum() / weights.sum()
    moves = np.array([centre_x(s) - centre_x(digit[0]) for s in shifted])
    assert np.abs(moves).max() <= 0.15 * 28 + 0.5
    assert moves.min() < -1 and moves.max() > 1


def test_augmentation_is_off_outside_training(images):
    model = augment.build(AugmentationConfig(15, 0.15, 0.15, 0.15, 0.5), seed=0)
    np.testing.assert_array_equal(np.asarray(model(images, training=False)), images)


def test_augmentation_saves_and_loads_in_safe_mode(images, tmp_path):
    model = augment.build(AugmentationConfig(15, 0.15, 0.15, 0.15, 0.5), seed=0)
    model(images[:2], training=True)
    model.save(tmp_path / "augmentation.keras")
    loaded = keras.saving.load_model(tmp_path / "augmentation.keras", safe_mode=True)
    assert [type(layer).__name__ for layer in loaded.layers] == ["RandomAffine", "RandomInvert"]
    assert loaded.layers[0].rotation_degrees == 15
