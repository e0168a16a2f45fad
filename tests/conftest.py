"""Shared fixtures. Plain helpers (SMOKE, compose_train, run_cli, photo samples) are in helpers.py:
test files import them from there, never from conftest or another test file."""

from __future__ import annotations

import pytest

from digits import config
from helpers import SMOKE, compose_train, run_cli  # noqa: F401  (kept for a transition)


@pytest.fixture
def smoke_config() -> config.TrainConfig:
    return compose_train(SMOKE)
