"""Every model file a run saves loads in plain Keras, in a process that never imported digits."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

from helpers import SMOKE, compose_train, load_in_plain_keras
from digits.training import train_digits
from digits.data import datasets
from digits.models import losses
from digits.models import model_files
from digits.models import classifiers
from digits.data import pipeline
from digits.config.models import MlpConfig

TINY = [*SMOKE, "trainer.batch_size=50"]
SMALL_LAYERS = {"mlp": ["model.hidden_units=[16]"]}
CONVOLUTIONAL = ["model.filters=[8,16]"]

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
def test_every_saved_model_loads_in_plain_keras_without_digits(run_folders):
    files = [folder / name for folder in run_folders.values()
             for name in ("model.keras", "checkpoints/best.keras")]
    for file in files:
        assert file.is_file(), file
        with zipfile.ZipFile(file) as archive:
            assert "digits" not in archive.read("config.json").decode(), file
    assert not any(folder.joinpath("augmentation.keras").exists()
                   for folder in run_folders.values())
    images = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    for file, loaded in zip(files, load_in_plain_keras(files, images)):
        expected = model_files.load(file).predict(images, verbose=0)
        np.testing.assert_allclose(loaded.output, expected, rtol=1e-5, atol=1e-6)


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
    loaded = load_in_plain_keras(files, pipeline.normalise(splits.x_val[:3]).numpy())
    np.testing.assert_allclose(loaded[0].output,
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
