import numpy as np
import pytest

from digits.data import datasets
from digits.config.schemas import ConfigError, DataConfig


@pytest.fixture(scope="module")
def mnist():
    return datasets.read_npz(datasets.BUNDLED_MNIST)


def test_bundled_mnist_matches_its_published_checksums(mnist):
    datasets.verify_mnist(mnist, datasets.BUNDLED_MNIST)  # raises on any mismatch
    assert mnist["x_train"].shape == (60000, 28, 28) and mnist["x_test"].shape == (10000, 28, 28)
    assert list(mnist["y_train"][:5]) == [5, 0, 4, 1, 9]
    assert list(mnist["y_test"][:5]) == [7, 2, 1, 0, 4]


def test_a_changed_pixel_fails_the_checksum(mnist, tmp_path, monkeypatch):
    tampered = dict(mnist)
    tampered["x_test"] = mnist["x_test"].copy()
    tampered["x_test"][0, 14, 14] ^= 1
    path = tmp_path / "mnist.npz"
    np.savez(path, **tampered)
    monkeypatch.setattr(datasets, "BUNDLED_MNIST", path)
    with pytest.raises(datasets.DataError, match="x_test fails its sha256 checksum"):
        datasets.load(DataConfig(), seed=0)


def test_default_split_sizes_and_stratification():
    splits = datasets.load(DataConfig(), seed=0)
    assert (len(splits.x_train), len(splits.x_val), len(splits.x_test)) == (50000, 10000, 10000)
    train_share = np.bincount(splits.y_train, minlength=10) / len(splits.y_train)
    val_share = np.bincount(splits.y_val, minlength=10) / len(splits.y_val)
    assert np.abs(train_share - val_share).max() < 0.001
    assert splits.x_train.dtype == np.uint8 and splits.y_train.dtype == np.uint8


def test_split_is_disjoint_and_seeded(mnist):
    labels = mnist["y_train"]
    val, rest = datasets.stratified_split(labels, 1000, seed=3)
    assert len(val) == 1000 and len(rest) == len(labels) - 1000
    assert not set(val) & set(rest)
    assert np.array_equal(val, datasets.stratified_split(labels, 1000, seed=3)[0])
    assert not np.array_equal(val, datasets.stratified_split(labels, 1000, seed=4)[0])
    counts = np.bincount(labels[val], minlength=10)
    expected = np.bincount(labels, minlength=10) * 1000 / len(labels)
    assert np.abs(counts - expected).max() <= 1


def test_train_and_test_subsets():
    splits = datasets.load(DataConfig(val_size=500, train_size=300, test_size=200), seed=1)
    assert (len(splits.x_train), len(splits.x_val), len(splits.x_test)) == (300, 500, 200)
    assert set(np.unique(splits.y_train)) == set(range(10))


def test_another_npz_of_the_same_layout(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    np.savez(path, x_train=rng.integers(0, 256, (120, 28, 28), dtype=np.uint8),
             y_train=np.arange(120) % 10, x_test=np.zeros((20, 28, 28), np.uint8),
             y_test=np.arange(20) % 10)
    splits = datasets.load(DataConfig(path=str(path), val_size=20), seed=0)
    assert (len(splits.x_train), len(splits.x_val), len(splits.x_test)) == (100, 20, 20)


@pytest.mark.parametrize("arrays, message", [
    ({"x_train": np.zeros((4, 28, 28), np.uint8)}, "lacks the arrays"),
    ({"x_train": np.zeros((4, 32, 32), np.uint8), "y_train": np.zeros(4, int),
      "x_test": np.zeros((4, 28, 28), np.uint8), "y_test": np.zeros(4, int)}, "shape \\(n, 28, 28\\)"),
    ({"x_train": np.zeros((4, 28, 28), np.uint8), "y_train": np.full(4, 11),
      "x_test": np.zeros((4, 28, 28), np.uint8), "y_test": np.zeros(4, int)}, "labels in 0..9"),
])
def test_wrong_layouts_are_refused_clearly(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(datasets.DataError, match=message):
        datasets.load(DataConfig(path=str(path), val_size=1), seed=0)


def test_missing_and_non_npz_files(tmp_path):
    with pytest.raises(datasets.DataError, match="not found"):
        datasets.load(DataConfig(path=str(tmp_path / "nope.npz")), seed=0)
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(datasets.DataError, match="not a readable .npz"):
        datasets.load(DataConfig(path=str(tmp_path / "text.npz")), seed=0)


def test_too_large_validation_split_is_a_config_error():
    with pytest.raises(ConfigError, match="data.val_size=60000"):
        datasets.load(DataConfig(val_size=60000), seed=0)
    with pytest.raises(ConfigError, match="data.train_size=50001"):
        datasets.load(DataConfig(train_size=50001), seed=0)
