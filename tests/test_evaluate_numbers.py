"""digits-evaluate with a sequence model: the fixed synthetic test numbers, by length
and spacing, the share flagged unsure, and a gallery of misread numbers."""

import json
import shutil

import numpy as np
import pytest

from digits import cli, evaluate
from digits.data import datasets
from digits.evaluation import evaluate_numbers
from digits.models import model_files
from digits.reading import number_reader
from digits.data.numbers import fixed_sets
from digits.data.numbers import composed
from digits.config.schemas import DataConfig
from digits.models.crnn import Reading, edit_distance
from helpers import assert_png_drawn, run_cli

TEST_COUNT = 24  # three numbers of each length


@pytest.fixture
def measured_run(crnn_run):
    """crnn_run with the config of a run that asked for a small test set."""
    (crnn_run / ".hydra").mkdir()
    (crnn_run / ".hydra" / "config.yaml").write_text(
        f"seed: 0\ndata:\n  test_count: {TEST_COUNT}\n")
    return crnn_run


def test_summary_on_known_readings():
    labels = ["12", "345", "7", "90"]
    metadata = [{"length": 2, "spacing": "touching"}, {"length": 3, "spacing": "wide"},
                {"length": 1, "spacing": "single"}, {"length": 2, "spacing": "wide"}]
    readings = [Reading("12", (0.9, 0.9), 0.9), Reading("35", (0.9, 0.9), 0.95),
                Reading("7", (0.4,), 0.4), Reading("", (), 0.99)]
    result = evaluate_numbers.summarise(readings, labels, metadata, unsure_below=0.5)
    assert result["test_exact_accuracy"] == 0.5 and result["errors"] == 2
    assert result["test_cer"] == pytest.approx((0 + 1 + 0 + 2) / 8)
    assert result["flagged"] == 0.5  # "7" under 0.5, and the empty reading
    assert result["unflagged_exact_accuracy"] == 0.5  # "12" right, "35" wrong
    assert list(result["by_length"]) == ["1", "2", "3"]
    assert result["by_length"]["2"] == {"numbers": 2, "exact_accuracy": 0.5, "cer": 0.5}
    assert list(result["by_spacing"]) == ["touching", "wide", "single"]
    assert result["by_spacing"]["wide"] == {"numbers": 2, "exact_accuracy": 0.0, "cer": 0.6}


def test_cli_measures_the_runs_fixed_test_numbers(measured_run, capsys):
    assert evaluate.main(["--model", str(measured_run)]) == cli.OK
    saved = json.loads((measured_run / "evaluation.json").read_text())
    x, y = composed.split_arrays(datasets.load(DataConfig(), seed=0), "test")
    lines, labels, metadata = fixed_sets.fixed_set(x, y, TEST_COUNT)
    readings = number_reader.read(model_files.load(measured_run), lines)
    predicted = [r.number for r in readings]
    assert saved["numbers"] == TEST_COUNT
    assert saved["errors"] == sum(p != t for p, t in zip(predicted, labels))
    assert saved["test_cer"] == pytest.approx(
        sum(edit_distance(p, t) for p, t in zip(predicted, labels))
        / sum(map(len, labels)))
    assert {k: g["numbers"] for k, g in saved["by_length"].items()} == {
        str(n): 3 for n in range(1, 9)}
    assert sorted(saved["by_spacing"]) == sorted({m["spacing"] for m in metadata})
    assert saved["unsure_below"] == 0.0  # from the run's metrics.json
    assert saved["flagged"] == pytest.approx(np.mean([not p for p in predicted]))
    printed = capsys.readouterr().out
    assert f"test exact accuracy {saved['test_exact_accuracy']:.4f}" in printed
    assert "Wrote evaluation.json and plots/errors.png" in printed
    assert_png_drawn(measured_run / "plots" / "errors.png", 1000)
    assert not list(measured_run.rglob(".partial-*"))


def test_error_gallery_shows_the_surest_misreadings_first():
    lines = [np.zeros((32, 40 + 8 * i), np.uint8) for i in range(4)]
    readings = [Reading("1", (0.9,), 0.3), Reading("2", (0.9,), 0.9), Reading("3", (0.9,), 0.6),
                Reading("4", (0.9,), 0.99)]
    figure = evaluate_numbers.error_gallery(lines, ["1", "5", "6", "4"], readings, size=2)
    titles = [axis.get_title() for axis in figure.axes if axis.get_title()]
    assert titles == ["true 5 → 2  (90%)", "true 6 → 3  (60%)"]
    assert figure.axes[0].images[0].get_array().shape == (32, 48)


@pytest.mark.parametrize("arguments, message", [
    (["--robustness"], "--robustness measures single-digit models; this model reads whole "
                       "numbers (a sequence model)"),
    (["--split", "test"], "--robustness measures single-digit models"),
    (["--data", "other.npz"], "a sequence model is measured on the fixed synthetic test numbers "
                              "only: leave out --data"),
])
def test_cli_refuses_what_a_sequence_model_cannot_be_measured_on(measured_run, arguments, message,
                                                                  capsys):
    assert evaluate.main(["--model", str(measured_run), *arguments]) == cli.USAGE
    error = capsys.readouterr().err
    assert error.startswith(f"digits-evaluate: {message}") and len(error.splitlines()) == 1
    assert not (measured_run / "evaluation.json").exists()


def test_beside_a_loose_model_existing_results_need_overwrite(tiny_crnn, tmp_path, capsys):
    shutil.copy(tiny_crnn, tmp_path / "reader.keras")
    (tmp_path / "evaluation.json").write_text("mine")
    assert evaluate.main(["--model", str(tmp_path / "reader.keras")]) == cli.USAGE
    assert "add --overwrite" in capsys.readouterr().err
    assert (tmp_path / "evaluation.json").read_text() == "mine"


@pytest.mark.slow  # a tiny digits-train run first (about 20 s alone, more on a busy machine)
def test_a_trained_runs_evaluation_repeats_its_metrics(tmp_path):
    run_dir = tmp_path / "run"
    trained = run_cli("digits.train", "data=numbers", "model=crnn", "model.filters=[8,16,16]",
                      "model.units=16", "model.head=conv", "data.steps_per_epoch=2",
                      "data.max_digits=3", "data.validation_count=16",
                      f"data.test_count={TEST_COUNT}", "data.val_size=1000",
                      "trainer.batch_size=8", "trainer.epochs=1", "trainer.verbose=0",
                      f"hydra.run.dir={run_dir}")
    assert trained.returncode == 0, trained.stderr[-3000:]
    evaluated = run_cli("digits.evaluate", "--model", str(run_dir))
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    saved = json.loads((run_dir / "evaluation.json").read_text())
    assert saved["test_exact_accuracy"] == metrics["test_exact_accuracy"]
    assert saved["test_cer"] == pytest.approx(metrics["test_cer"], abs=1e-12)
    assert {k: g["exact_accuracy"] for k, g in saved["by_length"].items()} == \
        metrics["test_exact_by_length"]
