"""digits-export: TFLite (float and int8) and SavedModel, each checked against Keras."""

import numpy as np
import pytest
import tensorflow as tf

from digits import export, modelio
from helpers import SMALL_CNN as MODEL, run_cli


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    (folder / "model.keras").write_bytes(MODEL.read_bytes())
    return folder


@pytest.mark.parametrize("int8", [False, True])
def test_tflite_export_agrees_with_keras(run_dir, int8):
    output, share = export.export(run_dir, "tflite", None, int8=int8, min_agreement=0.99,
                                  check_images=300)
    assert output.name == ("model_int8.tflite" if int8 else "model.tflite")
    assert share >= (0.99 if int8 else 0.999)
    images, _ = export.test_images(50)
    keras_probabilities = modelio.load(run_dir).predict(images, verbose=0)
    tflite_probabilities = export.tflite_predict(output.read_bytes(), images)
    np.testing.assert_allclose(tflite_probabilities, keras_probabilities,
                               atol=0.1 if int8 else 1e-4)


def test_int8_export_is_smaller(run_dir):
    float_file = run_dir / "model.tflite"
    int8_file = run_dir / "model_int8.tflite"
    if not (float_file.exists() and int8_file.exists()):
        pytest.skip("needs the two tflite exports above")
    assert int8_file.stat().st_size < 0.4 * float_file.stat().st_size


def test_savedmodel_cli_checks_then_writes(run_dir, tmp_path):
    result = run_cli("digits.export", str(run_dir), "--format", "savedmodel", "--output",
                     str(tmp_path / "exported"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "agreement with the Keras model: 100.00% of 1000" in result.stdout
    loaded = tf.saved_model.load(str(tmp_path / "exported"))
    images, _ = export.test_images(20)
    assert loaded.serve(tf.constant(images)).shape == (20, 10)


def test_an_export_that_disagrees_is_not_written(run_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "tflite_predict", lambda content, images: np.roll(
        np.eye(10)[np.zeros(len(images), int)], 1, axis=1))  # always answers 1
    with pytest.raises(ValueError, match="nothing written"):
        export.export(run_dir, "tflite", tmp_path / "bad.tflite", check_images=100)
    assert not (tmp_path / "bad.tflite").exists()


def test_cli_refuses_a_bad_model_without_traceback(tmp_path):
    (tmp_path / "model.keras").write_text("nope")
    result = run_cli("digits.export", str(tmp_path), "--format", "tflite")
    assert result.returncode == 1 and "cannot load the model" in result.stderr
    assert "Traceback" not in result.stderr
