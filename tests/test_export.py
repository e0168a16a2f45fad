"""digits-export: TFLite (float and int8) and SavedModel, each checked against Keras."""

import numpy as np
import pytest
import tensorflow as tf

from digits import export
from digits.models import export as exports
from digits.models import model_files
from digits.vision import number_lines
from digits.models import crnn
from helpers import SMALL_CNN as MODEL, run_cli


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    (folder / "model.keras").write_bytes(MODEL.read_bytes())
    return folder


@pytest.mark.parametrize("int8", [False, True])
def test_tflite_export_agrees_with_keras(run_dir, int8):
    output, share, _ = exports.export(run_dir, "tflite", None, int8=int8, min_agreement=0.99,
                                  check_images=300)
    assert output.name == ("model_int8.tflite" if int8 else "model.tflite")
    assert share >= (0.99 if int8 else 0.999)
    images, _ = exports.test_images(50)
    keras_probabilities = model_files.load(run_dir).predict(images, verbose=0)
    tflite_probabilities = exports.tflite_predict(output.read_bytes(), images)
    np.testing.assert_allclose(tflite_probabilities, keras_probabilities,
                               atol=0.1 if int8 else 1e-4)


def test_int8_export_is_smaller(run_dir):
    model = model_files.load(run_dir)
    _, representative = exports.test_images(50)
    int8, plain = (len(exports.tflite_bytes(model, int8, representative)) for int8 in (True, False))
    assert int8 < 0.4 * plain


def test_savedmodel_cli_checks_then_writes(run_dir, tmp_path):
    result = run_cli("digits.export", "--model", str(run_dir), "--format", "savedmodel",
                     "--output", str(tmp_path / "exported"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "agreement with the Keras model: 100.00% of 1000" in result.stdout
    loaded = tf.saved_model.load(str(tmp_path / "exported"))
    images, _ = exports.test_images(20)
    assert loaded.serve(tf.constant(images)).shape == (20, 10)


def test_an_export_that_disagrees_is_not_written(run_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(exports, "tflite_predict", lambda content, images: np.roll(
        np.eye(10)[np.zeros(len(images), int)], 1, axis=1))  # always answers 1
    with pytest.raises(ValueError, match="nothing written"):
        exports.export(run_dir, "tflite", tmp_path / "bad.tflite", check_images=100)
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
    images, _ = exports.test_images(20)
    np.testing.assert_allclose(exports.tflite_predict(output.read_bytes(), images),
                               model_files.load(run_dir).predict(images, verbose=0), atol=1e-4)
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


# --- a sequence model (model=crnn): checked on synthetic numbers --------------------
def test_agreement_of_a_sequence_model_compares_decoded_numbers():
    def path(steps):  # one near-certain class per step: 0 is the blank, d + 1 the digit d
        return np.eye(11)[steps] * 0.9 + 0.01
    expected = np.stack([path([2, 0, 3, 3]), path([5, 5, 0, 6])])  # "12", "45"
    unsure = np.stack([path([2, 2, 3, 0]), path([5, 0, 5, 6])])  # "12", "445"
    unsure[0] = unsure[0] * 0.5 + 0.05  # other probabilities, the same number
    assert exports.agreement(expected, unsure) == 0.5


def test_a_sequence_models_savedmodel_takes_lines_of_any_width(crnn_run, tmp_path, capsys):
    output = tmp_path / "served"
    assert export.main(["--model", str(crnn_run), "--format", "savedmodel", "--output",
                        str(output)]) == 0
    assert "agreement with the Keras model: 100.00% of 200 synthetic test numbers" in \
        capsys.readouterr().out
    loaded, model = tf.saved_model.load(str(output)), model_files.load(crnn_run)
    for width in (64, 256):
        lines = np.random.default_rng(width).random((2, 32, width, 1)).astype(np.float32)
        got = loaded.serve(tf.constant(lines)).numpy()
        assert got.shape == (2, width // 4, 11)
        np.testing.assert_allclose(got, model.predict(lines, verbose=0), atol=1e-5)


def test_a_sequence_models_tflite_reads_one_line_of_the_documented_width(crnn_run):
    output, share, checked_on = exports.export(crnn_run, "tflite", None, check_images=40)
    assert output == crnn_run / "model.tflite" and share == 1.0
    assert checked_on == "40 synthetic test numbers"
    content = output.read_bytes()
    interpreter = tf.lite.Interpreter(model_content=content)
    assert list(interpreter.get_input_details()[0]["shape"]) == [1, 32,
                                                                 exports.TFLITE_LINE_WIDTH, 1]
    lines = number_lines.pad_lines(exports.test_numbers(3), exports.TFLITE_LINE_WIDTH)
    expected = model_files.load(crnn_run).predict(lines, verbose=0)
    got = exports.tflite_predict(content, lines)  # one line at a time
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert [r.number for r in crnn.decode(got)] == [r.number for r in
                                                         crnn.decode(expected)]


def test_int8_is_refused_for_a_sequence_model(crnn_run, capsys):
    assert export.main(["--model", str(crnn_run), "--format", "tflite", "--int8"]) == 2
    assert capsys.readouterr().err == ("digits-export: --int8 is not supported for a sequence "
                                       "model (the TFLite converter fails on its recurrent "
                                       "layer)\n")
    assert not (crnn_run / "model_int8.tflite").exists()
