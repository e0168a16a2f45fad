"""Schemas of the groups that change how a run is carried out, never what it learns: paths (cache
and output folders), logger (where metrics go) and debug (short, overfitting or profiled runs).

digits.config.schemas registers them with the other groups' schemas; as there, types and choices
are checked when Hydra composes the config and ranges in ``__post_init__``, before any data loads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import List, Optional

from digits.config.checks import check

CACHE_VARIABLE = "DIGITS_CACHE"
DEFAULT_CACHE = Path("~") / ".cache" / "digits"


# --- paths -------------------------------------------------------------------------------------
@dataclass
class PathsConfig:
    # Drawn and downloaded data kept between runs; null: $DIGITS_CACHE, else ~/.cache/digits
    cache: Optional[str] = None
    output: str = "outputs"  # single runs: OUTPUT/DATE/TIME; the local MLflow store: OUTPUT/mlflow
    multirun: str = "multirun"  # sweeps: MULTIRUN/DATE/TIME

    def __post_init__(self) -> None:
        for key in ("cache", "output", "multirun"):
            value = getattr(self, key)
            check(value is None and key == "cache" or bool(value), f"paths.{key}", value,
                  "a folder" + (" or null" if key == "cache" else ""))

    def cache_folder(self) -> Path:
        """paths.cache if given, else $DIGITS_CACHE, else ~/.cache/digits."""
        chosen = self.cache or os.environ.get(CACHE_VARIABLE) or str(DEFAULT_CACHE)
        return Path(chosen).expanduser().absolute()


# --- logger ------------------------------------------------------------------------------------
@dataclass
class MlflowConfig:
    enabled: bool = False
    # null: a local store, OUTPUT/mlflow/mlflow.db (paths.output), artifacts beside it
    tracking_uri: Optional[str] = None
    # null: "digits-train" for single runs; a multirun's sweep folder for each of its jobs
    experiment_name: Optional[str] = None
    connect_timeout: int = 10  # seconds to wait for a tracking server before giving up

    def __post_init__(self) -> None:
        check(self.connect_timeout > 0, "logger.mlflow.connect_timeout", self.connect_timeout,
              "> 0 seconds")
        check(self.experiment_name is None or bool(self.experiment_name.strip()),
              "logger.mlflow.experiment_name", self.experiment_name, "a name or null")


@dataclass
class LoggerConfig:
    """Each logger option turns its own logger on; logger=[tensorboard,csv] turns on several."""
    tensorboard: bool = False  # per-epoch scalars in RUN/tensorboard (the default logger)
    csv: bool = False  # Keras' CSVLogger: RUN/logs/metrics.csv
    mlflow: MlflowConfig = field(default_factory=MlflowConfig)


# --- debug -------------------------------------------------------------------------------------
class DebugMode(str, Enum):
    default = "default"  # one short epoch: does the whole run go through?
    overfit = "overfit"  # a few batches repeated: can the model learn at all?
    profile = "profile"  # a TensorBoard profiler trace of a few steps


@dataclass
class DebugConfig:
    mode: DebugMode = DebugMode.default
    max_steps: Optional[int] = None  # training steps per epoch at most (null: every batch)
    overfit_batches: int = 4  # overfit: the batches repeated
    overfit_repeats: int = 10  # overfit: times each batch is seen per epoch
    loss_threshold: float = 0.1  # overfit: the training loss it must fall below
    profile_steps: List[int] = field(default_factory=lambda: [2, 6])  # profile: first, last

    def __post_init__(self) -> None:
        check(self.max_steps is None or self.max_steps >= 1, "debug.max_steps", self.max_steps,
              "null or >= 1")
        check(self.overfit_batches >= 1, "debug.overfit_batches", self.overfit_batches, ">= 1")
        check(self.overfit_repeats >= 1, "debug.overfit_repeats", self.overfit_repeats, ">= 1")
        check(self.loss_threshold > 0, "debug.loss_threshold", self.loss_threshold, "> 0")
        first_last = self.profile_steps
        check(len(first_last) == 2 and 1 <= first_last[0] <= first_last[1],
              "debug.profile_steps", first_last, "[first, last] steps with 1 <= first <= last")
        check(self.max_steps is None or self.mode is not DebugMode.profile
              or first_last[1] <= self.max_steps, "debug.profile_steps", first_last,
              f"within the epoch's debug.max_steps={self.max_steps} steps")
