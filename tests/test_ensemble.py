"""digits-ensemble: one model averaging its members, loadable anywhere, never fine-tuned."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

from digits import ensemble, modelio, trainer
from digits.config import TrainerConfig
from helpers import SMALL_CNN, run_cli

TINY_DATA = """data:
  source: npz
  path: null
  val_size: 100
  train_size: 100
  test_size: 100
seed: 0
"""


def tiny_mlp(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(10, activation="softmax")], name="mlp")


def test_ensemble_outputs_the_mean_of_its_members_probabilities():
    members = [tiny_mlp(1), tiny_mlp(2), modelio.load(SMALL_CNN)]
    images = np.random.default_rng(0).uniform(0, 1, (16, 28, 28, 1)).astype("float32")
    expected = np.mean([member.predict(images, verbose=0) for member in members], axis=0)
    model = ensemble.build(members)
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, atol=1e-6)
    assert modelio.is_ensemble(model) and not modelio.is_ensemble(members[0])


def test_ensemble_refuses_members_with_different_inputs():
    other = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    with pytest.raises(ValueError, match="different inputs"):
        ensemble.build([tiny_mlp(1), other])


@pytest.fixture
def member_runs(tmp_path):
    """Two run folders holding the small CNN, trained (as they say) on tiny MNIST splits."""
    runs = []
    for name in ("a", "b"):
        run = tmp_path / name
        (run / ".hydra").mkdir(parents=True)
        shutil.copy(SMALL_CNN, run / "model.keras")
        (run / ".hydra" / "config.yaml").write_text(TINY_DATA)
        runs.append(run)
    return runs


def test_cli_writes_a_model_plain_keras_loads_and_metrics_that_match_it(member_runs, tmp_path):
    output = tmp_path / "ensemble"
    result = run_cli("digits.ensemble", "--model", str(member_runs[0]), "--model",
                     str(member_runs[1]), "--output", str(output))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((output / "metrics.json").read_text())
    # Two copies of one model: the average is that model, so every accuracy is the member's.
    assert metrics["val_accuracy"] == metrics["members"][0]["val_accuracy"]
    assert metrics["test_accuracy"] == metrics["members"][1]["test_accuracy"]
    child = ("import sys, keras; m = keras.models.load_model(sys.argv[1], safe_mode=True); "
             "assert 'digits' not in sys.modules; print(m.name, m.output_shape)")
    loaded = subprocess.run([sys.executable, "-c", child, str(output / "model.keras")],
                            capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    assert "ensemble_of_2 (None, 10)" in loaded.stdout


def test_cli_refuses_one_member_and_a_non_empty_output(member_runs, tmp_path):
    one = run_cli("digits.ensemble", "--model", str(member_runs[0]), "--output",
                  str(tmp_path / "out"))
    assert one.returncode == 2 and "2 to 8" in one.stderr
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    refused = run_cli("digits.ensemble", "--model", str(member_runs[0]), "--model",
                      str(member_runs[1]), "--output", str(kept))
    assert refused.returncode == 2 and "--overwrite" in refused.stderr
    assert [p.name for p in kept.iterdir()] == ["notes.txt"]


def test_fine_tuning_an_ensemble_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "ensemble.keras"
    ensemble.build([tiny_mlp(1), tiny_mlp(2)]).save(path)
    with pytest.raises(modelio.ModelLoadError, match="is an ensemble"):
        trainer.starting_model(TrainerConfig(init_from=str(path)), build=lambda: tiny_mlp(3))
