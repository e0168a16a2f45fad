"""Every model file a run saves loads in plain Keras, in a process that never imported digits."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

from helpers import compose_train
from digits.training import train_digits
from digits.data import datasets
from digits.models import losses
from digits.models import model_files
from digits.models import classifiers
from digits.data import pipeline
from digits.config.models import MlpConfig

TINY = ["data.train_size=200", "data.val_size=100", "data.test_size=100", "trainer.epochs=1",
        "trainer.verbose=0", "trainer.batch_size=50"]
SMALL_LAYERS = {"mlp": ["model.hidden_units=[16]"]}
CONVOLUTIONAL = ["model.filters=[8,16]"]

# What plain Keras is asked to do: exactly load_model(path, safe_mode=True), then predict.
PLAIN_KERAS_CHILD = """
import json, sys
import numpy as np
import keras
images = np.load(sys.argv[1])
predictions = {}
for path in json.loads(sys.argv[2]):
    model = keras.models.load_model(path, safe_mode=True)
    predictions[path] = model.predict(images, verbose=0).tolist()
print(json.dumps({"digits_imported": any(name == "digits" or name.startswith("digits.")
                                         for name in sys.modules),
                  "predictions": predictions}))
"""


def runs_to_make() -> dict[str, list[str]]:
    """One tiny run per architecture, plus label smoothing (experiment=fast), EMA and mixed
    precision; init_from is made from the mlp run in the fixture."""
    runs = {name: [f"model={name}", *SMALL_LAYERS.get(name, CONVOLUTIONAL)]
            for name in sorted(classifiers.BUILDERS)}
    runs["fast_label_smoothing"] = ["experiment=fast", *CONVOLUTIONAL]
    runs["ema"] = ["model=mlp", *SMALL_LAYERS["mlp"], "trainer.ema_momentum=0.9",
                   "trainer.early_stopping.enabled=false", "trainer.label_smoothing=0.1"]
    runs["mixed_precision"] = ["model=cnn", *CONVOLUTIONAL, "trainer.precision=mixed_bfloat16"]
    return runs


def plain_keras_predictions(tmp_path, images: np.ndarray, paths: list) -> dict:
    np.save(tmp_path / "images.npy", images)
    result = subprocess.run([sys.executable, "-c", PLAIN_KERAS_CHILD, str(tmp_path / "images.npy"),
                             json.dumps([str(path) for path in paths])],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def run_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("portable")
    folders = {}
    for name, overrides in runs_to_make().items():
        folders[name] = root / name
        train_digits.run_training(compose_train([*TINY, *overrides]), folders[name])
    folders["init_from"] = root / "init_from"
    train_digits.run_training(compose_train([*TINY, f"trainer.init_from={folders['mlp']}",
                                      "trainer.label_smoothing=0.1"]), folders["init_from"])
    return folders


@pytest.mark.slow  # ten tiny trainings, one of them under mixed precision on a CPU
def test_every_saved_model_loads_in_plain_keras_without_digits(run_folders, tmp_path):
    files = [folder / name for folder in run_folders.values()
             for name in ("model.keras", "checkpoints/best.keras")]
    for file in files:
        assert file.is_file(), file
        with zipfile.ZipFile(file) as archive:
            assert "digits" not in archive.read("config.json").decode(), file
    assert not any(folder.joinpath("augmentation.keras").exists()
                   for folder in run_folders.values())
    images = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    child = plain_keras_predictions(tmp_path, images, files)
    assert child["digits_imported"] is False
    for file in files:
        expected = model_files.load(file).predict(images, verbose=0)
        np.testing.assert_allclose(np.asarray(child["predictions"][str(file)]), expected,
                                   rtol=1e-5, atol=1e-6)


def test_label_smoothing_uses_keras_own_loss_loads_without_digits_and_logs_true_accuracy(
        tmp_path):
    cfg = compose_train([*TINY, "model=mlp", *SMALL_LAYERS["mlp"], "trainer.label_smoothing=0.1",
                         "trainer.epochs=2", "trainer.early_stopping.enabled=false"])
    train_digits.run_training(cfg, tmp_path)
    model = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert isinstance(model.loss, keras.losses.CategoricalCrossentropy)
    assert model.loss.get_config()["label_smoothing"] == 0.1
    # One-hot targets: the "accuracy" Keras logged is the last epoch's true validation accuracy.
    splits = datasets.load(cfg.data, cfg.seed)
    predicted = model.predict(pipeline.normalise(splits.x_val), verbose=0).argmax(axis=1)
    history = np.genfromtxt(tmp_path / "history.csv", delimiter=",", names=True)
    assert history["val_accuracy"][-1] == pytest.approx((predicted == splits.y_val).mean(),
                                                        abs=1e-6)
    files = [tmp_path / "model.keras", tmp_path / "checkpoints" / "best.keras"]
    child = plain_keras_predictions(tmp_path, pipeline.normalise(splits.x_val[:3]).numpy(), files)
    assert child["digits_imported"] is False
    np.testing.assert_allclose(np.asarray(child["predictions"][str(files[0])]),
                               model.predict(pipeline.normalise(splits.x_val[:3]), verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_a_model_saved_with_the_old_loss_loads_in_digits_but_not_in_plain_keras(tmp_path):
    model = classifiers.build(MlpConfig(hidden_units=[8]))
    model.compile(optimizer="adam", loss=losses.SparseSmoothedCrossentropy(0.1),
                  metrics=["accuracy"])
    model.fit(np.zeros((4, 28, 28, 1), np.float32), np.arange(4), epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = model_files.load(tmp_path)
    assert isinstance(loaded.loss, losses.SparseSmoothedCrossentropy)
    assert loaded.loss.label_smoothing == 0.1
    # Why the class is still registered: without digits such a file cannot be read at all.
    result = subprocess.run(
        [sys.executable, "-c", "import keras, sys; "
         f"keras.models.load_model({str(tmp_path / 'model.keras')!r}, safe_mode=True)"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "SparseSmoothedCrossentropy" in result.stderr
