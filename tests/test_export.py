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
    model = modelio.load(run_dir)
    _, representative = export.test_images(50)
    int8, plain = (len(export.tflite_bytes(model, int8, representative)) for int8 in (True, False))
    assert int8 < 0.4 * plain


def test_savedmodel_cli_checks_then_writes(run_dir, tmp_path):
    result = run_cli("digits.export", "--model", str(run_dir), "--format", "savedmodel",
                     "--output", str(tmp_path / "exported"))
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
    result = run_cli("digits.export", "--model", str(tmp_path), "--format", "tflite")
    assert result.returncode == 2 and "cannot load the model" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_export_into_a_non_empty_folder_refuses_and_keeps_its_files(run_dir, tmp_path, overwrite):
    folder = tmp_path / "mine"
    (folder / "notes").mkdir(parents=True)
    (folder / "notes" / "todo.txt").write_text("keep me")
    (folder / "photo.jpg").write_bytes(b"\xff\xd8 not really")
    result = run_cli("digits.export", "--model", str(run_dir), "--format", "savedmodel",
                     "--output", str(folder), *overwrite)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"digits-export: --output {folder} ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == [
        "notes", "notes/todo.txt", "photo.jpg"]
    assert (folder / "notes" / "todo.txt").read_text() == "keep me"


def test_an_existing_tflite_file_is_replaced_only_with_overwrite(run_dir, tmp_path):
    output = tmp_path / "digits.tflite"
    output.write_bytes(b"an older export the user kept")
    refused = run_cli("digits.export", "--model", str(run_dir), "--format", "tflite",
                      "--output", str(output))
    assert refused.returncode == 2
    assert refused.stderr.strip() == (f"digits-export: --output {output} already exists; add "
                                      "--overwrite to replace it")
    assert output.read_bytes() == b"an older export the user kept"
    replaced = run_cli("digits.export", "--model", str(run_dir), "--format", "tflite",
                       "--output", str(output), "--overwrite")
    assert replaced.returncode == 0, replaced.stderr[-2000:]
    images, _ = export.test_images(20)
    np.testing.assert_allclose(export.tflite_predict(output.read_bytes(), images),
                               modelio.load(run_dir).predict(images, verbose=0), atol=1e-4)
    assert [p.name for p in tmp_path.iterdir()] == ["digits.tflite"]  # no temporary left


def test_a_savedmodel_folder_is_replaced_only_with_overwrite(run_dir, tmp_path):
    output = tmp_path / "serving"
    first = run_cli("digits.export", "--model", str(run_dir), "--format", "savedmodel",
                    "--output", str(output))
    assert first.returncode == 0, first.stderr[-2000:]
    stamp = (output / "saved_model.pb").stat().st_mtime_ns
    again = run_cli("digits.export", "--model", str(run_dir), "--format", "savedmodel",
                    "--output", str(output))
    assert again.returncode == 2 and "add --overwrite" in again.stderr
    assert (output / "saved_model.pb").stat().st_mtime_ns == stamp
    replaced = run_cli("digits.export", "--model", str(run_dir), "--format", "savedmodel",
                       "--output", str(output), "--overwrite")
    assert replaced.returncode == 0, replaced.stderr[-2000:]
    assert (output / "saved_model.pb").stat().st_mtime_ns != stamp
    assert sorted(p.name for p in tmp_path.iterdir()) == ["serving"]  # no .new / .old left
