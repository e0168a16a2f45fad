import numpy as np
import pytest

from digits.data import augment
from digits.data import datasets
from digits.data import pipeline
from digits.data import training_batches
from digits.config.schemas import AugmentationConfig, DataConfig


@pytest.fixture(scope="module")
def splits():
    return datasets.load(DataConfig(val_size=100, train_size=200, test_size=50), seed=0)


def test_evaluation_batches_are_normalised_and_shaped(splits):
    batches = list(pipeline.evaluation_dataset(splits.x_test, splits.y_test, 32))
    assert [len(x) for x, _ in batches] == [32, 18]
    x, y = batches[0]
    assert x.shape == (32, 28, 28, 1) and x.dtype == "float32"
    assert float(np.min(x)) == 0.0 and float(np.max(x)) == 1.0
    np.testing.assert_allclose(np.asarray(x)[..., 0], splits.x_test[:32] / 255.0, atol=1e-7)
    np.testing.assert_array_equal(np.asarray(y), splits.y_test[:32])


def test_training_batches_without_augmentation_are_a_shuffle_of_the_data(splits):
    dataset = training_batches.training_dataset(splits.x_train, splits.y_train, 64, seed=0)
    x = np.concatenate([np.asarray(b) for b, _ in dataset])
    y = np.concatenate([np.asarray(b) for _, b in dataset])
    assert x.shape == (200, 28, 28, 1) and 0.0 <= x.min() and x.max() <= 1.0
    assert sorted(y) == sorted(splits.y_train)
    assert not np.array_equal(y, splits.y_train)  # shuffled


def test_augmented_batches_stay_in_range_and_change_every_epoch(splits):
    augmentation = augment.build(AugmentationConfig(15, 0.15, 0.15, 0.15, 0.5), seed=0)
    dataset = training_batches.training_dataset(splits.x_train, splits.y_train, 200, 0,
                                                augmentation)
    first, second = (np.asarray(next(iter(dataset))[0]) for _ in range(2))
    assert first.shape == (200, 28, 28, 1)
    assert first.min() >= 0.0 and first.max() <= 1.0 + 1e-6
    assert not np.allclose(first, second)
    inverted_share = (first.mean(axis=(1, 2, 3)) > 0.5).mean()
    assert 0.3 < inverted_share < 0.7


def epochs_of_images(dataset, epochs: int = 2) -> np.ndarray:
    return np.concatenate([np.asarray(x) for _ in range(epochs) for x, _ in dataset])


def test_parallel_resampling_gives_exactly_the_augmentation_models_images(splits, monkeypatch):
    recipe = AugmentationConfig(15, 0.15, 0.15, 0.15, 0.5)
    assert augment.draws_apart(augment.build(recipe))
    parallel = epochs_of_images(training_batches.training_dataset(
        splits.x_train, splits.y_train, 32, 0, augment.build(recipe, seed=0)))
    monkeypatch.setattr(augment, "draws_apart", lambda augmentation: False)
    model_by_batch = epochs_of_images(training_batches.training_dataset(
        splits.x_train, splits.y_train, 32, 0, augment.build(recipe, seed=0)))
    np.testing.assert_array_equal(parallel, model_by_batch)
    assert parallel.shape == (400, 28, 28, 1)
    assert not np.array_equal(parallel[:200], parallel[200:])  # new draws every epoch


def test_layers_that_draw_while_transforming_are_not_split():
    elastic = AugmentationConfig(0, 0, 0, 0, 0, elastic_probability=0.5)
    assert not augment.draws_apart(augment.build(elastic))


@pytest.mark.parametrize("recipe", [AugmentationConfig(15, 0.15, 0.15, 0.15, 0.5),
                                    AugmentationConfig(elastic_probability=0.5,
                                                       erasing_probability=0.5)])
def test_an_epoch_is_the_same_whether_the_run_went_through_the_earlier_ones_or_not(splits, recipe):
    """A resumed run starts its dataset at the resumed epoch: what epoch 2 draws must not depend
    on how far the seed generators ran before (they are keyed on seed, epoch and batch)."""
    whole = training_batches.training_dataset(splits.x_train, splits.y_train, 32, 0,
                                              augment.build(recipe, seed=0))
    epochs = [np.concatenate([np.asarray(x) for x, _ in whole]) for _ in range(3)]
    augmentation = augment.build(recipe, seed=0)
    augmentation(np.asarray(pipeline.normalise(splits.x_train[:8])), training=True)  # draws
    resumed = training_batches.training_dataset(splits.x_train, splits.y_train, 32, 0,
                                                augmentation, first_epoch=2)
    np.testing.assert_array_equal(np.concatenate([np.asarray(x) for x, _ in resumed]), epochs[2])
    assert not np.array_equal(epochs[1], epochs[2])


def test_one_hot_labels_for_label_smoothing(splits):
    _, labels = next(iter(training_batches.training_dataset(splits.x_train, splits.y_train, 16,
                                                            0, one_hot=True)))
    assert labels.shape == (16, 10) and np.all(np.asarray(labels).sum(axis=1) == 1)
    _, labels = next(iter(pipeline.evaluation_dataset(splits.x_val, splits.y_val, 16, True)))
    np.testing.assert_array_equal(np.asarray(labels).argmax(axis=1), splits.y_val[:16])
