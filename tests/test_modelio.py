import keras
import numpy as np
import pytest

from digits.models import model_files
from digits.models import classifiers
from digits.config.models import MlpConfig


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    model = classifiers.build(MlpConfig(hidden_units=[8]))
    model.save(folder / "model.keras")
    return folder, model


def test_loads_from_a_run_folder_or_a_file(saved):
    folder, model = saved
    x = np.zeros((1, 28, 28, 1), np.float32)
    for path in (folder, folder / "model.keras", str(folder)):
        np.testing.assert_allclose(np.asarray(model_files.load(path)(x)), np.asarray(model(x)))


@pytest.mark.parametrize("content, message", [
    (None, "no model at"),
    (b"", "cannot load the model"),
    (b"this is not a zip file", "cannot load the model"),
])
def test_bad_files_get_a_clear_error(tmp_path, content, message):
    path = tmp_path / "model.keras"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(model_files.ModelLoadError, match=message):
        model_files.load(path)


def test_a_truncated_model_file_is_refused(saved, tmp_path):
    folder, _ = saved
    data = (folder / "model.keras").read_bytes()
    (tmp_path / "model.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(model_files.ModelLoadError, match="cannot load the model"):
        model_files.load(tmp_path)


def test_a_lambda_layer_is_refused_and_its_code_never_runs(tmp_path):
    marker = tmp_path / "marker"
    inputs = keras.Input((28, 28, 1))
    # Lambda's code is serialised as bytecode; unsafe loading would run it and leave the marker.
    code = eval(f"lambda x: x + (open({str(marker)!r}, 'w').close() or 0)")  # no closure to save
    outputs = keras.layers.Lambda(code)(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "model.keras")
    marker.unlink(missing_ok=True)
    with pytest.raises(model_files.ModelLoadError, match="contains code"):
        model_files.load(tmp_path)
    assert not marker.exists()
    # The check has teeth: the same file loaded unsafely does run the code.
    keras.saving.load_model(tmp_path / "model.keras", safe_mode=False)
    assert marker.exists()
