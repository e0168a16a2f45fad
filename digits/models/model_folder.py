"""A model folder digits ships or hands on (digits-calibrate, digits-ensemble): model.keras,
metrics.json, the run's .hydra/config.yaml and a COMMAND.md, each file written atomically.

The run config says which data and seed drew the run's splits, so the folder's evaluations and
calibration draw the same ones. metrics.json is written last: a folder holding it is complete.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras

from digits.models import model_files
from digits.runs import metadata
from digits.utils import atomic

COMMAND_FILE = "COMMAND.md"


def write(folder: Path, model: keras.Model, metrics: dict, run_folder: Path | None = None,
          command: str | None = None, source: Path | None = None) -> None:
    """Write `model` and `metrics` into `folder`; the run config of `run_folder` (when it has
    one); with `command`, COMMAND.md saying the folder was made with it from `source`."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic.save_model(model, folder / model_files.MODEL_FILE)
    if run_folder is not None and metadata.has_run_config(run_folder):
        atomic.write_text(folder / metadata.RUN_CONFIG,
                          (run_folder / metadata.RUN_CONFIG).read_text())
    if command is not None:
        atomic.write_text(folder / COMMAND_FILE,
                          f"Made with:\n\n    {command}\n\nfrom `{source}`.\n")
    atomic.write_text(folder / metadata.METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
