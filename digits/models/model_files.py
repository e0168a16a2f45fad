"""Loading trained models: model files are data, never code.

Every load goes through here, with ``safe_mode=True``: a file that would run code (a Lambda layer),
a truncated or corrupted file, or a file that is not a model raises ModelLoadError with a message
for the user, never a traceback.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import keras

# Registers digits' layers and losses before any model is deserialised.
import digits.data.augment  # noqa: F401
import digits.models.losses  # noqa: F401

MODEL_FILE = "model.keras"
ENSEMBLE_PREFIX = "ensemble"  # digits-ensemble names its models so
# Models shipped in the package: digits/resources/models/NAME/ (model.keras, metrics.json,
# COMMAND.md), declared as package data in pyproject.toml; docs/shipped_models.md.
SHIPPED_ROOT = Path("resources") / "models"
SHIPPED_MODELS = {"digit": "digit_reader", "number": "number_reader"}


def is_ensemble(model: keras.Model) -> bool:
    """A model digits-ensemble made: members' probabilities averaged, never trained further."""
    return model.name.startswith(ENSEMBLE_PREFIX)


def shipped_folder(kind: str = "digit") -> Path:
    """The package's folder for the shipped model of `kind` (it may hold no model yet)."""
    if kind not in SHIPPED_MODELS:
        raise ValueError(f"no shipped model kind {kind!r}: choose from {sorted(SHIPPED_MODELS)}")
    # A wheel installs digits as plain files, so the package's resources are real paths.
    return Path(str(resources.files("digits"))) / SHIPPED_ROOT / SHIPPED_MODELS[kind]


def default_model_path(kind: str = "digit") -> Path | None:
    """The model a command uses when given no --model: the one shipped in digits/resources/ for
    `kind` ("digit": single digits; "number": whole numbers, digits-predict --number), or None
    while digits ships none (then --model is required)."""
    file = shipped_folder(kind) / MODEL_FILE
    return file if file.is_file() else None


def is_shipped(path: str | Path) -> bool:
    """Whether `path` is a model shipped inside the package (never a place to write into)."""
    root = shipped_folder().parent.resolve()
    return root in Path(path).expanduser().resolve().parents


def output_folder(path: str | Path) -> Path:
    """Where a command writes what it learns about the model at `path`: its own folder, or for
    a shipped model (inside the installed package, shared by every user) ./NAME in the current
    directory (NAME: digit_reader or number_reader)."""
    folder = resolve(path).parent
    return Path.cwd() / folder.name if is_shipped(folder) else folder


class ModelLoadError(RuntimeError):
    """The model path is missing, unreadable, unsafe, or not a Keras model."""


def resolve(path: str | Path) -> Path:
    """A run folder (its model.keras) or a .keras file -> the .keras file."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise ModelLoadError(f"no model at {path}: give a run folder holding {MODEL_FILE} "
                             "or a .keras file")
    return path


def load(path: str | Path) -> keras.Model:
    file = resolve(path)
    try:
        model = keras.saving.load_model(file, safe_mode=True)
    except Exception as error:  # Keras raises many types for bad files; all mean "not usable"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if "safe_mode" in str(error) or "Lambda" in str(error):
            reason = "it contains code (e.g. a Lambda layer), which is never run: " + reason
        raise ModelLoadError(f"cannot load the model {file}: {reason}") from None
    if not isinstance(model, keras.Model):
        raise ModelLoadError(f"{file} does not hold a Keras model")
    return model
