"""digits-export: the export is checked against the Keras model before it is written."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from conftest import run_cli
from digits import data, export, pipeline


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A small CNN fitted for two epochs on 2000 real MNIST images, saved as .keras."""
    arrays = data.read_npz(export.Path(str(data.BUNDLED_MNIST)))
    x, y = pipeline.normalise(arrays["x_train"][:2000]).numpy(), arrays["y_train"][:2000]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3, activation="relu"),
                              keras.layers.MaxPooling2D(), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    path = tmp_path_factory.mktemp("model") / "small.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def images():
    return export.test_images(200)


@pytest.mark.parametrize("fmt,int8", [("tflite", False), ("tflite", True), ("savedmodel", False)])
def test_export_agrees_with_keras_and_is_written(small_model, images, tmp_path, fmt, int8):
    written, agreed = export.export(small_model, fmt, tmp_path / "out", int8=int8, images=images)
    assert written.exists()
    assert agreed >= export.MIN_AGREEMENT[int8]
    predict = export.predict_tflite if fmt == "tflite" else export.predict_savedmodel
    keras_digits = np.argmax(keras.saving.load_model(small_model).predict(images, verbose=0), 1)
    assert np.mean(np.argmax(predict(written, images), 1) == keras_digits) == agreed


def test_int8_file_is_smaller(small_model, images, tmp_path):
    plain, _ = export.export(small_model, "tflite", tmp_path / "f.tflite", images=images)
    quant, _ = export.export(small_model, "tflite", tmp_path / "q.tflite", int8=True, images=images)
    assert quant.stat().st_size < plain.stat().st_size / 2


def test_disagreeing_export_is_not_written(small_model, images, tmp_path, monkeypatch):
    # A broken converter would give other digits: shift every prediction by one class.
    real = export.predict_tflite
    monkeypatch.setattr(export, "predict_tflite", lambda path, x: np.roll(real(path, x), 1, axis=1))
    with pytest.raises(export.ExportError, match="agrees with the Keras model on only"):
        export.export(small_model, "tflite", tmp_path / "bad.tflite", images=images)
    assert not (tmp_path / "bad.tflite").exists()


def test_refuses_to_overwrite_and_int8_savedmodel(small_model, tmp_path):
    (tmp_path / "exists.tflite").write_bytes(b"keep me")
    with pytest.raises(export.ExportError, match="already exists"):
        export.export(small_model, "tflite", tmp_path / "exists.tflite")
    with pytest.raises(export.ExportError, match="tflite only"):
        export.export(small_model, "savedmodel", tmp_path / "sm", int8=True)


def test_cli_prints_agreement_and_rejects_missing_model(small_model, tmp_path):
    result = run_cli("digits.export", str(small_model), "--format", "tflite",
                     "--output", str(tmp_path / "m.tflite"))
    assert result.returncode == 0, result.stderr
    assert "agreement with the Keras model: " in result.stdout
    assert (tmp_path / "m.tflite").is_file()
    result = run_cli("digits.export", str(tmp_path / "nowhere"), "--format", "tflite")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "no model at" in result.stderr
