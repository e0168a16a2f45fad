"""Datasets -> uint8 numpy splits: train / validation (seeded, stratified) / test."""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from digits.config.schemas import ConfigError, DataConfig, FolderDataConfig, HandwritingDataConfig
from digits.data import reader_views
from digits.vision import image_files
from digits.vision import mnist_style

log = logging.getLogger(__name__)

BUNDLED_MNIST = resources.files("digits") / "resources" / "mnist.npz"

# sha256 of np.ascontiguousarray(array).tobytes(), from resources/MNIST_README.md
MNIST_SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}


class DataError(ValueError):
    """The dataset file is missing, of the wrong layout, or fails its checksums."""


@dataclass
class Splits:
    x_train: np.ndarray  # (n, 28, 28) uint8, 0 background .. 255 ink
    y_train: np.ndarray  # (n,) uint8 labels 0..9
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def array_sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Read the four arrays of a keras-mnist-layout .npz and check their shapes and types."""
    if not path.is_file():
        raise DataError(f"dataset file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in MNIST_SHA256 if key in npz.files}
    except Exception as error:  # np.load raises many types for a file that is not an .npz
        raise DataError(f"{path} is not a readable .npz file: {error}") from error
    missing = sorted(set(MNIST_SHA256) - set(arrays))
    if missing:
        raise DataError(f"{path} lacks the arrays {missing}; expected x_train, y_train, x_test, "
                        "y_test as in keras.datasets.mnist")
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8:
            raise DataError(f"{path}: x_{split} must be uint8 of shape (n, 28, 28), "
                            f"got {x.dtype} {x.shape}")
        if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 \
                or y.max() > 9:
            raise DataError(f"{path}: y_{split} must be {len(x)} integer labels in 0..9")
        arrays[f"y_{split}"] = y.astype(np.uint8)
    return arrays


def verify_mnist(arrays: dict[str, np.ndarray], path: Path) -> None:
    for key, expected in MNIST_SHA256.items():
        if array_sha256(arrays[key]) != expected:
            raise DataError(f"{path}: array {key} fails its sha256 checksum; the bundled MNIST "
                            "is damaged: reinstall the package")


def stratified_split(labels: np.ndarray, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (taken, rest): `size` indices whose class proportions match `labels`.

    Shuffle, sort by class (stably), then take evenly spaced positions: every class gets its share
    to within one image, and the choice within a class is random.
    """
    shuffled = np.random.default_rng(seed).permutation(len(labels))
    by_class = shuffled[np.argsort(labels[shuffled], kind="stable")]
    positions = (np.arange(size) * len(labels)) // size
    taken = np.zeros(len(labels), dtype=bool)
    taken[positions] = True
    return np.sort(by_class[taken]), np.sort(by_class[~taken])


def read_digit_photo(path: Path) -> tuple[np.ndarray | None, str | None]:
    """A photo of one digit -> (its 28x28 as digits-predict reads it, None) or (None, why not)."""
    try:
        return mnist_style.to_mnist(image_files.decode(path)), None
    except (ValueError, cv2.error) as error:  # mnist_style.NoDigitError is a ValueError too
        return None, str(error)


def read_folder(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """DIR/0 .. DIR/9 photos -> (uint8 (n, 28, 28), labels), each photo preprocessed exactly as
    digits-predict reads it. Photos that cannot be read, or show no digit, are skipped and named."""
    if not root.is_dir():
        raise DataError(f"data.path={root} is not a folder (expected sub-folders 0 .. 9 of photos)")
    files = [(path, digit) for digit in range(10) if (root / str(digit)).is_dir()
             for path in sorted((root / str(digit)).iterdir())
             if path.suffix.lower() in image_files.IMAGE_SUFFIXES]
    if not files:
        raise DataError(f"{root} holds no photos in sub-folders 0 .. 9 "
                        f"(image types: {', '.join(sorted(image_files.IMAGE_SUFFIXES))})")
    with ThreadPoolExecutor() as pool:  # OpenCV releases the GIL: photos in parallel
        read = list(pool.map(read_digit_photo, [path for path, _ in files]))
    images, labels, skipped = [], [], []
    for (path, digit), (image, error) in zip(files, read):
        if image is not None:
            images.append(image)
            labels.append(digit)
        else:
            skipped.append(f"{path.relative_to(root)} ({error})")
    if skipped:
        log.warning("skipped %d of %d photos in %s: %s", len(skipped), len(files), root,
                    "; ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else ""))
    if not images:
        raise DataError(f"no photo in {root} could be read as a digit")
    return np.stack(images), np.array(labels, dtype=np.uint8)


def load_folder(cfg: FolderDataConfig, seed: int) -> Splits:
    x, y = read_folder(Path(cfg.path).expanduser())
    test_count, val_count = round(len(x) * cfg.test_fraction), round(len(x) * cfg.val_fraction)
    if min(test_count, val_count, len(x) - test_count - val_count) < 1:
        raise DataError(f"{cfg.path}: {len(x)} photos are too few for a train / validation / test "
                        f"split of {cfg.val_fraction} and {cfg.test_fraction}")
    test_idx, rest = stratified_split(y, test_count, seed)
    val_keep, train_keep = stratified_split(y[rest], val_count, seed + 1)
    val_idx, train_idx = rest[val_keep], rest[train_keep]
    return Splits(x[train_idx], y[train_idx], x[val_idx], y[val_idx], x[test_idx], y[test_idx])


def load(cfg: DataConfig | FolderDataConfig, seed: int) -> Splits:
    if isinstance(cfg, FolderDataConfig):
        return load_folder(cfg, seed)
    path = Path(cfg.path).expanduser() if cfg.path else Path(str(BUNDLED_MNIST))
    arrays = read_npz(path)
    if cfg.path is None:
        verify_mnist(arrays, path)
    x, y = arrays["x_train"], arrays["y_train"]
    if cfg.val_size >= len(x):
        raise ConfigError(f"data.val_size={cfg.val_size} is invalid: must be smaller than the "
                          f"{len(x)} training images of {path.name}")
    val_idx, train_idx = stratified_split(y, cfg.val_size, seed)
    if cfg.train_size is not None:
        if cfg.train_size > len(train_idx):
            raise ConfigError(f"data.train_size={cfg.train_size} is invalid: only "
                              f"{len(train_idx)} training images remain after the validation split")
        keep, _ = stratified_split(y[train_idx], cfg.train_size, seed + 1)
        train_idx = train_idx[keep]
    x_test, y_test = arrays["x_test"], arrays["y_test"]
    if cfg.test_size is not None and cfg.test_size < len(x_test):
        keep, _ = stratified_split(y_test, cfg.test_size, seed + 2)
        x_test, y_test = x_test[keep], y_test[keep]
    splits = Splits(x[train_idx], y[train_idx], x[val_idx], y[val_idx], x_test, y_test)
    if isinstance(cfg, HandwritingDataConfig):
        return with_reader_views(splits, cfg, seed)
    return splits


def with_reader_views(splits: Splits, cfg: HandwritingDataConfig, seed: int) -> Splits:
    """data=handwriting: training and validation images extended by what the photo reader makes
    of them; the test split stays MNIST's own (the robustness suite measures the rest)."""
    x_train, y_train = reader_views.extend(splits.x_train, splits.y_train, seed, cfg.reader_copies,
                                          cfg.hand_photos, cfg.corrupted_fraction, "train",
                                          cfg.scan_fraction)
    x_val, y_val = reader_views.extend(splits.x_val, splits.y_val, seed, cfg.val_reader_copies,
                                      0, 0.0, "validation")
    log.info("data=handwriting: %d training images (%d MNIST), %d validation (%d MNIST)",
             len(x_train), len(splits.x_train), len(x_val), len(splits.x_val))
    return Splits(x_train, y_train, x_val, y_val, splits.x_test, splits.y_test)
