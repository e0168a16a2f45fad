"""The range check every config schema runs in ``__post_init__``, and the error it raises.

A module of its own so that the schema modules (data_schemas.py, model_schemas.py) and config.py,
which registers them, all import it without importing each other.
"""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A config value is out of range; the message names the key, the value and what is allowed."""


def check(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is invalid: must be {allowed}")
