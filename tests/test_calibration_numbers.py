"""digits-calibrate with a sequence model: no temperature, unsure_below chosen on the run's fixed
validation numbers by the single-digit models' rule, the model copied beside it (plumbing: the
tiny untrained CRNN reads nonsense)."""

from __future__ import annotations

import json
import runpy
import shutil
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from omegaconf import OmegaConf

from digits import calibrate
from digits.data import datasets
from digits.models import model_files
from digits.calibration import number_calibration
from digits.reading import number_reader
from digits.data.numbers import fixed_sets
from digits.data.numbers import composed
from digits.models import crnn
from digits.config.schemas import data_config
from digits.evaluation import confidence as confidence_metrics
from helpers import load_in_plain_keras

TINY_NUMBERS_RUN = """data:
  source: numbers
  path: null
  val_size: 60
  train_size: 100
  test_size: 60
  validation_count: 12
model:
  name: crnn
seed: 0
"""


def readings(numbers: list[str], confidences) -> list[crnn.Reading]:
    return [crnn.Reading(number, (confidence,) * len(number), float(confidence))
            for number, confidence in zip(numbers, confidences)]


# --- the rule ---------------------------------------------------------------------------------
def test_lines_read_as_nothing_count_as_flagged_at_every_cut():
    # 100 readings: 4 read as nothing (flagged whatever the cut), 96 read at 0.01 .. 0.96; the
    # 3 least confident of those are wrong, so flagging them too leaves 93 exact of 93.
    confidence = np.concatenate([np.full(4, 0.99), np.arange(1, 97) / 100])
    correct = np.concatenate([np.zeros(4, bool), np.arange(96) >= 3])
    nothing = np.arange(100) < 4
    chosen = confidence_metrics.choose_threshold(confidence, correct, always_flagged=nothing)
    assert chosen["unsure_below"] == 0.04
    assert chosen["flagged_share"] == pytest.approx(0.07)
    assert chosen["unflagged_accuracy"] == 1.0 and chosen["target_met"]
    # without the mask their high confidence would keep them: no cut within 10 % reaches 0.99
    assert not confidence_metrics.choose_threshold(confidence, correct)["target_met"]


def test_too_many_lines_read_as_nothing_flag_nothing_more_and_miss_the_target():
    confidence = np.linspace(0.5, 1.0, 100)
    correct = np.arange(100) >= 20
    nothing = np.arange(100) < 15  # 15 % flagged before any cut: over the 10 % budget
    chosen = confidence_metrics.choose_threshold(confidence, correct, always_flagged=nothing)
    assert not chosen["target_met"]
    assert chosen["unsure_below"] == 0.0 and chosen["flagged_share"] == pytest.approx(0.15)
    assert chosen["unflagged_accuracy"] == pytest.approx(80 / 85)


def test_the_chosen_cut_flags_exactly_what_digits_predict_flags():
    rng = np.random.default_rng(3)
    labels = [str(n) for n in rng.integers(0, 10**6, 500)]
    confidence = rng.uniform(0, 1, 500)
    # misread: most of the least confident, and a few others
    numbers = [label[:-1] or "7" if c < 0.05 or rng.random() < 0.004 else label
               for label, c in zip(labels, confidence)]
    numbers[:7] = [""] * 7  # read as no digit
    read = readings(numbers, confidence)
    fit = number_calibration.flags(read, labels)
    flagged = np.array([number_reader.is_flagged(r, fit["unsure_below"]) for r in read])
    exact = np.array([r.number == t for r, t in zip(read, labels)])
    assert fit["flagged_share"] == pytest.approx(flagged.mean())
    assert fit["unflagged_accuracy"] == pytest.approx(exact[~flagged].mean())
    assert fit["exact_accuracy"] == pytest.approx(exact.mean())
    assert fit["target_met"] and 0 < fit["unsure_below"] < 0.2
    assert fit["unflagged_accuracy"] >= 0.99 and fit["flagged_share"] <= 0.10
    # the lowest such cut: the next lower one leaves the rest less than 0.99 exact
    read_something = np.array([bool(n) for n in numbers])
    lower = confidence[read_something & (confidence < fit["unsure_below"])].max()
    kept = ~np.array([number_reader.is_flagged(r, lower) for r in read])
    assert exact[kept].mean() < 0.99


# --- the command ------------------------------------------------------------------------------
@pytest.fixture
def numbers_run(tiny_crnn, tmp_path, monkeypatch):
    """A run folder holding the tiny CRNN, 'trained' on tiny splits of MNIST (as its config
    says), calibrated on 24 validation numbers."""
    monkeypatch.setattr(number_calibration, "VALIDATION_NUMBERS", 24)
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    shutil.copy(tiny_crnn, run / "model.keras")
    (run / ".hydra" / "config.yaml").write_text(TINY_NUMBERS_RUN)
    (run / "metrics.json").write_text(json.dumps({"test_exact_accuracy": 0.25,
                                                  "preprocessing_version": 1}))
    return run


def test_calibrate_a_sequence_model_writes_its_cut_the_model_and_the_run_config(
        numbers_run, tmp_path, capsys):
    out = tmp_path / "calibrated"
    argv = ["--model", str(numbers_run), "--output", str(out)]
    assert calibrate.main(argv) == 0
    printed = capsys.readouterr()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_exact_accuracy"] == 0.25  # the run's own metrics are kept
    assert "temperature" not in metrics
    assert metrics["source"] == str(numbers_run)
    assert metrics["command"] == "digits-calibrate " + " ".join(argv)
    assert metrics["preprocessing_version"] == 1
    assert str(numbers_run) in (out / "COMMAND.md").read_text()
    assert (out / ".hydra" / "config.yaml").read_text() == TINY_NUMBERS_RUN
    fit = metrics["calibration"]
    assert fit["numbers"] == 24 and metrics["unsure_below"] == fit["unsure_below"]
    # the figures are those of the run's validation numbers read as digits-predict reads them
    lines, labels = number_calibration.validation_numbers(numbers_run)
    assert len(lines) == 24
    read = number_reader.read(model_files.load(numbers_run), lines)
    flagged = [number_reader.is_flagged(r, metrics["unsure_below"]) for r in read]
    assert fit["flagged_share"] == pytest.approx(np.mean(flagged))
    assert fit["exact_accuracy"] == np.mean([r.number == t for r, t in zip(read, labels)])
    assert f"unsure below {metrics['unsure_below']:.4g}:" in printed.out
    if not fit["target_met"]:  # an untrained model: the best trade-off, said on stderr
        assert "best trade-off" in printed.err
    # digits-predict --number and digits-evaluate take the cut from DIR
    assert number_reader.unsure_below(out) == metrics["unsure_below"]
    # the model is the run's, uncompiled, and plain Keras loads it
    images = np.random.default_rng(0).uniform(0, 1, (2, 32, 96, 1)).astype("float32")
    (loaded,) = load_in_plain_keras([out / "model.keras"], images)
    assert not loaded.optimizer
    np.testing.assert_allclose(loaded.output,
                               model_files.load(numbers_run).predict(images, verbose=0), atol=1e-6)
    with zipfile.ZipFile(out / "model.keras") as archive, \
            archive.open("model.weights.h5") as file:
        names = []
        h5py.File(file, "r").visit(names.append)
    assert names and not [name for name in names if "optimizer" in name]


def test_a_calibrated_sequence_model_is_not_calibrated_again(numbers_run, tmp_path, capsys):
    (numbers_run / "metrics.json").write_text(json.dumps({"unsure_below": 0.4,
                                                          "calibration": {}}))
    assert calibrate.main(["--model", str(numbers_run), "--output", str(tmp_path / "again")]) == 2
    assert "calibrated already" in capsys.readouterr().err
    assert not (tmp_path / "again").exists()


def test_a_sequence_model_whose_run_drew_no_numbers_is_refused(numbers_run, tmp_path, capsys):
    (numbers_run / ".hydra" / "config.yaml").write_text("data:\n  source: npz\nseed: 0\n")
    assert calibrate.main(["--model", str(numbers_run), "--output", str(tmp_path / "out")]) == 2
    assert "not data=numbers" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_calibrate_refuses_a_taken_output_for_a_sequence_model(numbers_run, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    assert calibrate.main(["--model", str(numbers_run), "--output", str(taken)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in taken.iterdir()) == ["notes.txt"]


def test_validation_numbers_of_another_seed_are_other_numbers_of_the_same_digits(numbers_run):
    # benchmarks/validation_numbers.py: the run's seed still picks the validation digits; `seed`
    # only draws other numbers of them (the run's seed must not stand in for it)
    fixed = number_calibration.validation_numbers(numbers_run, 12)
    again = number_calibration.validation_numbers(numbers_run, 12)
    other = number_calibration.validation_numbers(numbers_run, 12, seed=77001)
    assert fixed[1] == again[1] and len(other[1]) == 12
    assert other[1] != fixed[1]
    run = OmegaConf.load(numbers_run / ".hydra" / "config.yaml")  # TINY_NUMBERS_RUN: seed 0
    digits_of_run = composed.split_arrays(
        datasets.load(data_config(OmegaConf.to_container(run.data)), seed=run.seed), "validation")
    assert other[1] == fixed_sets.fixed_set(*digits_of_run, 12, 77001)[1]


def test_the_lone_digit_estimate_is_the_one_digit_share_to_the_power_of_the_length():
    # benchmarks/validation_numbers.py --by-length
    by_length = runpy.run_path(str(Path(__file__).resolve().parents[1] / "benchmarks"
                                   / "validation_numbers.py"))["by_length"]
    labels = ["1", "2", "3", "4", "12", "34", "123", "456", "4567", "5678", "12345", "23456",
              "123456", "234567", "1234567", "2345678", "12345678", "23456789"]
    right = np.array([True, True, True, False] + [True, False] * 7)
    rows = {line.split()[0]: line.split()[1:] for line in by_length(right, labels)[1:]}
    assert rows["1"] == ["4", "0.7500", "0.7500"]
    assert rows["2"] == ["2", "0.5000", f"{0.75 ** 2:.4f}"]
    assert rows["8"] == ["2", "0.5000", f"{0.75 ** 8:.4f}"]
    estimate = (4 * 0.75 + sum(2 * 0.75 ** n for n in range(2, 9))) / len(labels)
    assert rows["all"] == [str(len(labels)), f"{right.mean():.4f}", f"{estimate:.4f}"]


def test_misread_numbers_counts_only_the_numbers_both_readers_get_wrong_the_same_way():
    # benchmarks/misread_numbers.py
    bench = runpy.run_path(str(Path(__file__).resolve().parents[1] / "benchmarks"
                               / "misread_numbers.py"))
    labels = ["12", "345", "6", "78", "90", "111"]
    first = ["12", "35", "5", "78", "99", "1111"]
    second = ["17", "35", "8", "79", "99", "111"]
    assert bench["same_misreads"](labels, first, second) == [1, 4]
    assert bench["kinds"](labels, first) == {"dropped": 1, "substituted": 2, "added": 1}
    assert bench["substitutions"](labels, first) == {"6->5": 1, "0->9": 1}
    tiles = [bench["tile"](np.zeros((48, 64), np.uint8), np.full((32, 300), 255, np.uint8), "x")
             for _ in range(7)]
    picture = bench["montage"](tiles)
    assert picture.shape == (2 * tiles[0].shape[0], 5 * tiles[0].shape[1])
    assert picture[:, 2 * tiles[0].shape[1]:].min() == 0  # tiles laid left to right, then down
    assert picture[tiles[0].shape[0]:, 2 * tiles[0].shape[1]:].min() == 255  # the row's padding
