"""A run's hyperparameters and final metrics for TensorBoard's HParams dashboard.

`tensorboard --logdir SWEEP_DIR` then lists every run of a sweep in one table, with parallel
coordinates and scatter plots of metric against hyperparameter.
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from pathlib import Path

import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

HPARAMS_DIR = "hparams"


def flatten(value, prefix: str = "") -> dict[str, bool | int | float | str]:
    """Nested dataclasses / dicts -> {"trainer.learning_rate": 0.001, ...} of HParams types."""
    if dataclasses.is_dataclass(value):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        flat = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}{key}."))
        return flat
    if isinstance(value, Enum):
        value = value.value
    if value is None or isinstance(value, (list, tuple)):
        value = str(value)
    return {prefix.rstrip("."): value}


def log(run_dir: Path, cfg, metrics: dict[str, float]) -> None:
    """Write `cfg` (a TrainConfig) as the run's hyperparameters and `metrics` as its results."""
    hyperparameters = {key: value for key, value in flatten(cfg).items() if key != "resume"}
    writer = tf.summary.create_file_writer(str(run_dir / "tensorboard" / HPARAMS_DIR))
    with writer.as_default():
        hp.hparams(hyperparameters, trial_id=str(run_dir))
        for name, value in metrics.items():
            tf.summary.scalar(name, value, step=0)
    writer.close()
