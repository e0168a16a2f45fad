"""digits-ensemble: one model averaging its members, loadable anywhere, never fine-tuned."""

from __future__ import annotations

import json
import shutil

import keras
import numpy as np
import pytest

from digits import ensemble
from digits.models import model_files
from digits.models import crnn
from digits.training import trainer
from digits.vision import mnist_style
from digits.config.schemas import TrainerConfig
from digits.config.models import CrnnConfig
from digits.models import ensembles
from helpers import SMALL_CNN, load_in_plain_keras, run_cli

TINY_DATA = """data:
  source: npz
  path: null
  val_size: 100
  train_size: 100
  test_size: 100
seed: 0
"""
TINY_NUMBERS = """data:
  source: numbers
  path: null
  val_size: 60
  train_size: 100
  test_size: 60
  validation_count: 6
  test_count: 8
model:
  name: crnn
seed: 0
"""


def tiny_mlp(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(10, activation="softmax")], name="mlp")


def test_ensemble_outputs_the_mean_of_its_members_probabilities():
    members = [tiny_mlp(1), tiny_mlp(2), model_files.load(SMALL_CNN)]
    images = np.random.default_rng(0).uniform(0, 1, (16, 28, 28, 1)).astype("float32")
    expected = np.mean([member.predict(images, verbose=0) for member in members], axis=0)
    model = ensembles.build(members)
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, atol=1e-6)
    assert model_files.is_ensemble(model) and not model_files.is_ensemble(members[0])


def test_ensemble_refuses_members_with_different_inputs():
    other = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    with pytest.raises(ValueError, match="different inputs"):
        ensembles.build([tiny_mlp(1), other])


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
    (loaded,) = load_in_plain_keras([output / "model.keras"])
    assert loaded.name == "ensemble_of_2" and loaded.output.shape == (1, 10)


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
    ensembles.build([tiny_mlp(1), tiny_mlp(2)]).save(path)
    with pytest.raises(model_files.ModelLoadError, match="is an ensemble"):
        trainer.starting_model(TrainerConfig(init_from=str(path)), build=lambda: tiny_mlp(3))


# --- whole-number readers (model=crnn) ---------------------------------------------------------
def tiny_crnn(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return crnn.crnn(CrnnConfig(filters=[4, 8], units=8))


def test_a_whole_number_ensemble_averages_every_steps_distribution():
    members = [tiny_crnn(1), tiny_crnn(2)]
    lines = np.random.default_rng(0).uniform(0, 1, (3, 32, 96, 1)).astype("float32")
    expected = np.mean([member.predict(lines, verbose=0) for member in members], axis=0)
    model = ensembles.build(members)
    np.testing.assert_allclose(model.predict(lines, verbose=0), expected, atol=1e-6)
    assert crnn.is_sequence_model(model) and expected.shape == (3, 96 // 4, 11)


@pytest.fixture
def number_runs(tmp_path):
    """Two run folders of tiny untrained CRNNs (different weights) that read version-N lines;
    the second trained with other training options (outlines, cut photos) on the same split."""
    runs = []
    other_training = TINY_NUMBERS.replace("  test_count: 8\n", "  test_count: 8\n"
                                          "  outline_fraction: 0.2\n  cut_fraction: 0.1\n")
    for seed, run_config in ((1, TINY_NUMBERS), (2, other_training)):
        run = tmp_path / f"numbers{seed}"
        (run / ".hydra").mkdir(parents=True)
        tiny_crnn(seed).save(run / "model.keras")
        (run / ".hydra" / "config.yaml").write_text(run_config)
        (run / "metrics.json").write_text(json.dumps({"line_version": mnist_style.LINE_VERSION}))
        runs.append(run)
    return runs


def test_cli_ensembles_whole_number_readers_measured_on_their_runs_numbers(number_runs,
                                                                            tmp_path):
    output = tmp_path / "number_ensemble"
    result = run_cli("digits.ensemble", "--model", str(number_runs[0]), "--model",
                     str(number_runs[1]), "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert "ensemble val exact" in result.stdout
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["line_version"] == mnist_style.LINE_VERSION
    # the run's data and seed come along, so calibrate and evaluate draw the members' numbers
    assert (output / ".hydra" / "config.yaml").read_text() == TINY_NUMBERS
    sets = ensemble.fixed_numbers(*ensembles.run_data(number_runs[0]))
    assert [len(sets["val"][1]), len(sets["test"][1])] == [6, 8]
    saved = model_files.load(output)
    assert {k: metrics[k] for k in ensemble.number_accuracies(saved, sets)} == \
        ensemble.number_accuracies(saved, sets)
    for run, member in zip(number_runs, metrics["members"]):
        assert member["test_cer"] == ensemble.number_accuracies(model_files.load(run),
                                                                sets)["test_cer"]


def test_members_that_read_different_lines_or_tasks_are_refused(number_runs, member_runs,
                                                                 tmp_path):
    config = number_runs[1] / ".hydra" / "config.yaml"
    kept = config.read_text()
    config.write_text(kept.replace("val_size: 60", "val_size: 50"))  # another split
    split = run_cli("digits.ensemble", "--model", str(number_runs[0]), "--model",
                    str(number_runs[1]), "--output", str(tmp_path / "split_out"))
    assert split.returncode != 0 and "different data splits" in split.stderr
    config.write_text(kept)
    (number_runs[1] / "metrics.json").write_text(json.dumps({"line_version": 1}))
    lines = run_cli("digits.ensemble", "--model", str(number_runs[0]), "--model",
                    str(number_runs[1]), "--output", str(tmp_path / "lines_out"))
    assert lines.returncode != 0 and "line_version [1, " in lines.stderr
    (member_runs[1] / ".hydra" / "config.yaml").write_text(TINY_NUMBERS)
    mixed = run_cli("digits.ensemble", "--model", str(number_runs[0]), "--model",
                    str(member_runs[1]), "--output", str(tmp_path / "mixed_out"))
    assert mixed.returncode != 0
    assert "different inputs" in mixed.stderr or "whole numbers" in mixed.stderr
    assert not any((tmp_path / name).exists() for name in ("split_out", "lines_out", "mixed_out"))
