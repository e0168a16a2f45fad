"""Schemas of the data config group (data=mnist, npz, folder, handwriting, numbers).

digits.config.schemas registers them in Hydra's ConfigStore with the other groups' schemas and re-exports
them (``from digits.config.schemas import DataConfig`` works); as there, ranges are checked in
``__post_init__`` (config_checks.check raises ConfigError).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from digits.config.checks import check


@dataclass
class DataConfig:
    source: str = "npz"  # data=mnist and data=npz
    path: Optional[str] = None  # None: the bundled, checksum-verified MNIST (data=npz requires one)
    val_size: int = 10_000  # a stratified, seeded validation split taken from the training images
    train_size: Optional[int] = None  # None: all training images left after the validation split
    test_size: Optional[int] = None  # None: the whole test set

    def __post_init__(self) -> None:
        check(self.val_size >= 1, "data.val_size", self.val_size, ">= 1")
        check(self.train_size is None or self.train_size >= 1, "data.train_size", self.train_size,
              ">= 1 or null")
        check(self.test_size is None or self.test_size >= 1, "data.test_size", self.test_size,
              ">= 1 or null")


@dataclass
class FolderDataConfig:
    """data=folder: photos in sub-folders 0..9, preprocessed as digits-predict does."""
    path: str  # the folder; no default: data=folder requires it (conf/data/folder.yaml)
    source: str = "folder"
    val_fraction: float = 0.2  # of all photos, stratified and seeded
    test_fraction: float = 0.2

    def __post_init__(self) -> None:
        for key in ("val_fraction", "test_fraction"):
            value = getattr(self, key)
            check(0 < value < 1, f"data.{key}", value, "in (0, 1)")
        check(self.val_fraction + self.test_fraction < 1, "data.val_fraction + data.test_fraction",
              self.val_fraction + self.test_fraction, "< 1 (some photos must be left to train on)")


@dataclass
class HandwritingDataConfig(DataConfig):
    """data=handwriting: MNIST and what the photo reader makes of it (digits/data/reader_views.py)."""
    source: str = "handwriting"
    reader_copies: int = 1  # reader views (rendered, photographed, read back) per training image
    hand_photos: int = 100  # photos of each digit in each training hand (hands.training_hands())
    corrupted_fraction: float = 0.2  # training images also seen under a raw training corruption
    val_reader_copies: int = 1  # reader views per validation image: choose on what users meet
    scan_fraction: float = 0.0  # of training images also seen as a low-resolution binarised scan

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("reader_copies", "hand_photos", "val_reader_copies"):
            check(getattr(self, key) >= 0, f"data.{key}", getattr(self, key), ">= 0")
        for key in ("corrupted_fraction", "scan_fraction"):
            check(0 <= getattr(self, key) <= 1, f"data.{key}", getattr(self, key), "in [0, 1]")


@dataclass
class NumbersDataConfig(DataConfig):
    """data=numbers: whole numbers composed from MNIST digits on the fly (digits/data/numbers/composed.py),
    each split's numbers from that split's digits only; for model=crnn."""
    source: str = "numbers"
    val_size: int = 5_000  # MNIST training digits kept aside to compose validation numbers from
    min_digits: int = 1
    max_digits: int = 8
    photo_fraction: float = 0.5  # of training numbers photographed; the rest are seen clean
    hand_fraction: float = 0.0  # of training numbers written in a training hand (Hershey strokes)
    # of training numbers from MNIST drawn in outline (hollow strokes); the fixed validation and
    # test numbers keep reader_data.OUTLINE_PROBABILITY, 0.05
    outline_fraction: float = 0.05
    cut_fraction: float = 0.0  # of photographed training numbers run off the frame's top or bottom
    width_scale_min: float = 1.0  # each training line is scaled in width by a factor drawn
    width_scale_max: float = 1.0  # from [min, max]: narrow and wide handwriting
    steps_per_epoch: int = 500  # batches per epoch: each epoch draws new numbers (seed, epoch)
    # 0: new numbers every batch; N: N training numbers drawn once (cached outside the repo,
    # digits/data/numbers/number_pool.py) and every batch picked from them, scaled in width anew
    pool_size: int = 0
    validation_count: int = 1_000  # fixed validation numbers, measured after every epoch
    test_count: int = 5_000  # the fixed test set (number_sets.fixed_set), measured at the end

    def __post_init__(self) -> None:
        super().__post_init__()
        check(1 <= self.min_digits <= self.max_digits <= 8, "data.min_digits, data.max_digits",
              (self.min_digits, self.max_digits), "1 <= min_digits <= max_digits <= 8")
        for key in ("photo_fraction", "hand_fraction", "outline_fraction", "cut_fraction"):
            check(0 <= getattr(self, key) <= 1, f"data.{key}", getattr(self, key), "in [0, 1]")
        check(self.pool_size >= 0, "data.pool_size", self.pool_size, ">= 0 (0: no pool)")
        check(0.3 <= self.width_scale_min <= self.width_scale_max <= 2,
              "data.width_scale_min, data.width_scale_max",
              (self.width_scale_min, self.width_scale_max), "0.3 <= min <= max <= 2")
        for key in ("steps_per_epoch", "validation_count", "test_count"):
            check(getattr(self, key) >= 1, f"data.{key}", getattr(self, key), ">= 1")


DATA_SCHEMAS = {"npz": DataConfig, "folder": FolderDataConfig,
                "handwriting": HandwritingDataConfig, "numbers": NumbersDataConfig}


def data_config(values: dict) -> DataConfig | FolderDataConfig:
    """A saved run's data config (a plain mapping) -> its schema, e.g. for digits-evaluate."""
    values = dict(values)
    source = values.get("source", "npz")
    check(source in DATA_SCHEMAS, "data.source", source, " or ".join(DATA_SCHEMAS))
    return DATA_SCHEMAS[source](**values)
