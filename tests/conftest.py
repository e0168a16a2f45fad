"""Shared fixtures: composed configs (through Hydra's compose API, no CLI) and small real data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from digits import config

config.register_configs()

# One epoch on a few hundred real images: the smoke settings every end-to-end test starts from.
SMOKE = ["data.train_size=300", "data.val_size=200", "data.test_size=200", "trainer.epochs=1",
         "trainer.verbose=0"]


def compose_train(overrides: list[str] = ()) -> config.TrainConfig:
    """The composed training config as dataclasses, exactly as `digits-train` would see it."""
    with initialize_config_module("digits.conf", version_base="1.3"):
        cfg = compose("train", overrides=list(overrides))
    return config.to_objects(cfg)


def run_cli(module: str, *args: str, cwd: Path | None = None, timeout: int = 300):
    """Run an entry point as a user would (`python -m digits.X args`), capturing its output."""
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def smoke_config() -> config.TrainConfig:
    return compose_train(SMOKE)
