"""What a run folder says about its model: the run's config (.hydra/config.yaml: its data and
seed, which draw its splits), its metrics.json, and the model's calibrated `unsure_below`.

Every function takes the folder holding the model file (model_files.resolve(path).parent); a
model without a run folder (a bare .keras file) gets the defaults: an empty config, seed
DEFAULT_SEED, no metrics.
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from digits.config.schemas import DEFAULT_SEED, DataConfig, data_config

RUN_CONFIG = Path(".hydra") / "config.yaml"
METRICS_FILE = "metrics.json"


def has_run_config(folder: Path) -> bool:
    return (Path(folder) / RUN_CONFIG).is_file()


def run_config(folder: Path) -> DictConfig:
    """The config the run saved in `folder` (.hydra/config.yaml), or an empty one."""
    saved = Path(folder) / RUN_CONFIG
    return OmegaConf.load(saved) if saved.is_file() else OmegaConf.create({})


def seed(config: DictConfig) -> int:
    """The run's seed (it drew the run's data split), DEFAULT_SEED when the config has none."""
    return int(config.get("seed", DEFAULT_SEED))


def data(config: DictConfig) -> DataConfig:
    """The run's data config (the data group's schema), MNIST's defaults when it has none."""
    return data_config(config.get("data", {}) or {})


def metrics(folder: Path) -> dict:
    """The metrics.json in `folder`, or {} when there is none (or it is not a JSON object)."""
    try:
        found = json.loads((Path(folder) / METRICS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def unsure_below(folder: Path, default: float | None) -> float | None:
    """The model's calibrated low-confidence cut: `unsure_below` in the metrics.json in `folder`
    (digits-calibrate writes it), else `default`."""
    value = metrics(folder).get("unsure_below")
    return float(value) if isinstance(value, (int, float)) and 0 <= value <= 1 else default
