"""Shared test helpers (plain functions and constants; fixtures live in conftest.py).

Test files import these as `from helpers import ...`; they never import each other or conftest.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from hydra import compose, initialize_config_module

from digits.config import schemas

schemas.register_configs()

DATA = Path(__file__).parent / "data"
PHOTOS = DATA / "photos"
# A small CNN trained on the bundled MNIST (see tests/data/README.md for the command).
SMALL_CNN = DATA / "small_cnn.keras"

# One epoch on a few hundred real images: the smoke settings every end-to-end test starts from.
SMOKE = ["data.train_size=300", "data.val_size=200", "data.test_size=200", "trainer.epochs=1",
         "trainer.verbose=0"]


def with_partner(option: str) -> list[str]:
    """[option] and the option it needs: whole numbers take data=numbers with model=crnn (the
    config refuses either with a digit option)."""
    partners = {"data=numbers": "model=crnn", "model=crnn": "data=numbers"}
    return [option, partners[option]] if option in partners else [option]


def compose_train(overrides: list[str] = ()) -> schemas.TrainConfig:
    """The composed training config as dataclasses, exactly as `digits-train` would see it."""
    with initialize_config_module("digits.conf", version_base="1.3"):
        cfg = compose("train", overrides=list(overrides))
    return schemas.to_objects(cfg)


def usage_error(main, argv: list[str], capsys) -> str:
    """The one stderr line of `main(argv)` stopping with exit 2 (argparse's or the tool's)."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1, error
    return error


def run_cli(module: str, *args: str, cwd: Path | None = None, timeout: int = 300, env=None):
    """Run an entry point as a user would (`python -m digits.X args`), capturing its output."""
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)


# What a user of plain Keras does, in a Python that imports Keras and numpy only: load_model(path,
# safe_mode=True), then predict. argv: the inputs' .npy file ("" for one blank input of the model's
# shape, a free width taken as 64 columns), a folder for the outputs, the model files.
PLAIN_KERAS_CHILD = """
import json, sys
import numpy as np
import keras
inputs_file, folder, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
models = []
for index, path in enumerate(paths):
    model = keras.saving.load_model(path, safe_mode=True)
    shape = [1] + [64 if size is None else size for size in model.inputs[0].shape[1:]]
    inputs = np.load(inputs_file) if inputs_file else np.zeros(shape, "float32")
    # as float32: a mixed-precision checkpoint predicts bfloat16, which np.save cannot describe
    np.save(f"{folder}/{index}.npy", np.asarray(model.predict(inputs, verbose=0), "float32"))
    models.append({"name": model.name, "compiled": bool(getattr(model, "compiled", False)),
                   "optimizer": getattr(model, "optimizer", None) is not None})
print(json.dumps({"digits_imported": any(name == "digits" or name.startswith("digits.")
                                         for name in sys.modules), "models": models}))
"""


@dataclass(frozen=True)
class PlainKerasModel:
    """A model file as plain Keras loaded it: its name, whether it came compiled or with an
    optimizer, and what it predicted."""
    name: str
    compiled: bool
    optimizer: bool
    output: np.ndarray


def load_in_plain_keras(paths, inputs: np.ndarray | None = None) -> list[PlainKerasModel]:
    """Each model file of `paths` loaded and run on `inputs` (default: one blank input) in a child
    Python without digits, as a user of plain Keras would; fails the test if the child fails or
    imports digits."""
    with tempfile.TemporaryDirectory() as folder:
        inputs_file = ""
        if inputs is not None:
            inputs_file = f"{folder}/inputs.npy"
            np.save(inputs_file, inputs)
        child = subprocess.run([sys.executable, "-c", PLAIN_KERAS_CHILD, inputs_file, folder,
                                *map(str, paths)], cwd=folder, capture_output=True, text=True,
                               timeout=600)
        assert child.returncode == 0, child.stderr[-3000:]
        report = json.loads(child.stdout.strip().splitlines()[-1])
        assert report["digits_imported"] is False, "plain Keras imported digits"
        return [PlainKerasModel(output=np.load(f"{folder}/{index}.npy"), **model)
                for index, model in enumerate(report["models"])]


def scores(model, images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy, mean cross-entropy and accuracy on inverted images of `model` on uint8 `images`,
    computed here with numpy (not through digits.evaluate), to check what a run reports."""
    def probabilities(x):
        return np.asarray(model.predict(x[..., None].astype("float32") / 255, batch_size=256,
                                        verbose=0), dtype="float64")

    plain, inverted = probabilities(images), probabilities(255 - images)
    return {"accuracy": float(np.mean(plain.argmax(axis=1) == labels)),
            "loss": float(-np.mean(np.log(np.clip(plain[np.arange(len(labels)), labels],
                                                  1e-7, 1)))),
            "inverted_accuracy": float(np.mean(inverted.argmax(axis=1) == labels))}


def label_smoothing(model) -> float:
    """The label smoothing of a compiled model's loss, whatever the loss's class."""
    if isinstance(model.loss, str):  # e.g. "sparse_categorical_crossentropy": no smoothing
        return 0.0
    return model.loss.get_config().get("label_smoothing", 0.0)


def assert_png_drawn(path: Path, width: int, height: int | None = None,
                     panels: tuple[int, int] = (1, 1)) -> np.ndarray:
    """The figure a command saved at `path` (dpi 100: width and height are its inches x 100) has
    something drawn in each cell of a rows x columns grid of `panels`; returns it in grey."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert image is not None, f"{path} is no PNG"
    assert image.shape[1] == width and (height is None or image.shape[0] == height), image.shape
    rows, columns = panels
    for row in range(rows):
        for column in range(columns):
            tall, wide = image.shape[0] // rows, image.shape[1] // columns
            cell = image[row * tall:(row + 1) * tall, column * wide:(column + 1) * wide]
            drawn = np.count_nonzero(cell < 200) / cell.size  # dark pixels: ink, text, colour
            assert drawn > 0.005, f"{path}: panel {row}, {column} is blank ({drawn:.2%} drawn)"
    return image


def labelled_photos() -> list[tuple[Path, str]]:
    """The committed photo samples and their labels (tests/data/photos/labels.csv)."""
    with open(PHOTOS / "labels.csv") as file:
        return [(PHOTOS / name, label) for name, label in csv.reader(file)]


def drawn_digit(text="7", size=(480, 640), paper=235, ink=30, thickness=18) -> np.ndarray:
    """A photo-like BGR image of `text` drawn dark on light paper."""
    image = np.full((*size, 3), paper, np.uint8)
    cv2.putText(image, text, (size[1] // 3, int(size[0] * 0.75)), cv2.FONT_HERSHEY_SIMPLEX,
                size[0] / 60, (ink, ink, ink), thickness)
    return image
