"""digits-evaluate on a real (small) training run, and the metrics behind it."""

import json

import keras
import numpy as np
import pytest

from digits.data import datasets
from digits.models import model_files
from digits.evaluation import confidence as confidence_metrics
from digits.evaluation import scores as digit_scores
from helpers import SMOKE, assert_png_drawn, run_cli, scores

# The figures digits-evaluate draws and their sizes in pixels (errors.png: its height grows with
# the number of mistakes shown).
FIGURES = {"confusion_matrix.png": (650, 550), "errors.png": (1120, None),
           "reliability.png": (550, 500)}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("eval") / "run"
    # Label smoothing, as experiment=fast and best use: its loss must load with the model.
    result = run_cli("digits.train", *SMOKE, "augmentation=none", "trainer.epochs=2",
                     "trainer.label_smoothing=0.1", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def test_evaluate_reports_the_runs_own_test_accuracy_and_writes_its_figures(trained_run):
    for name in ("confusion_matrix.png", "errors.png", "reliability.png"):
        (trained_run / "plots" / name).unlink()  # the training run wrote them too
    result = run_cli("digits.evaluate", "--model", str(trained_run))
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((trained_run / "metrics.json").read_text())
    saved = json.loads((trained_run / "evaluation.json").read_text())
    assert saved["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-9)
    assert f"test accuracy {metrics['test_accuracy']:.4f}" in result.stdout
    assert saved["images"] == 200 and sum(map(sum, saved["confusion_matrix"])) == 200
    assert set(saved["per_class"]) == {str(d) for d in range(10)}
    for name, (width, height) in FIGURES.items():
        assert_png_drawn(trained_run / "plots" / name, width, height)


def test_metrics_from_a_known_confusion():
    labels = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 1, 1, 1, 0])
    confusion = digit_scores.confusion_matrix(labels, predicted)
    assert confusion[0, 0] == 2 and confusion[0, 1] == 1 and confusion[2, 0] == 1
    scores = digit_scores.per_class_scores(confusion)
    assert scores["0"]["precision"] == pytest.approx(2 / 3)
    assert scores["0"]["recall"] == pytest.approx(2 / 3)
    assert scores["1"]["precision"] == pytest.approx(2 / 3) and scores["1"]["recall"] == 1.0
    assert scores["1"]["f1"] == pytest.approx(0.8)
    assert scores["2"]["f1"] == 0.0 and scores["2"]["support"] == 1


def test_expected_calibration_error():
    confidence = np.array([0.95, 0.95, 0.95, 0.95, 0.55, 0.55])
    correct = np.array([1, 1, 1, 0, 1, 0], dtype=float)
    ece, accuracy, mean_confidence, count = confidence_metrics.reliability_bins(confidence, correct,
                                                                         bins=10)
    # bin 0.9-1.0: accuracy 0.75 vs 0.95; bin 0.5-0.6: 0.5 vs 0.55
    assert ece == pytest.approx(4 / 6 * 0.2 + 2 / 6 * 0.05)
    assert count.sum() == 6 and accuracy[9] == 0.75
    assert confidence_metrics.reliability_bins(np.ones(4), np.ones(4))[0] == 0.0


@pytest.mark.parametrize("content", [b"", b"not a zip", None])
def test_bad_model_files_get_a_clear_error_and_no_traceback(tmp_path, content):
    if content is not None:
        (tmp_path / "model.keras").write_bytes(content)
    result = run_cli("digits.evaluate", "--model", str(tmp_path))
    assert result.returncode == 2  # an unloadable model, as in every digits command
    assert result.stderr.startswith("digits-evaluate: ") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_lambda_model_is_refused_by_evaluate_and_its_code_never_runs(tmp_path):
    marker = tmp_path / "marker"
    code = eval(f"lambda x: x + (open({str(marker)!r}, 'w').close() or 0)")
    inputs = keras.Input((28, 28, 1))
    keras.Model(inputs, keras.layers.Lambda(code)(inputs)).save(tmp_path / "model.keras")
    marker.unlink(missing_ok=True)
    result = run_cli("digits.evaluate", "--model", str(tmp_path))
    assert result.returncode == 2 and "contains code" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()


def test_a_run_without_mistakes_still_gets_its_figures(tmp_path):
    from digits.evaluation import plots

    figure = plots.image_grid(np.zeros((0, 28, 28)), [], title="most confident mistakes")
    assert figure.get_suptitle() == "most confident mistakes"
    assert [text.get_text() for text in figure.axes[0].texts] == ["none"]
    plots.save(figure, tmp_path / "errors.png")
    assert_png_drawn(tmp_path / "errors.png", 400, 150)


def files_of(folder):
    return {path.relative_to(folder): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file() and "evaluations" not in path.relative_to(folder).parts}


@pytest.fixture(scope="module")
def other_npz(tmp_path_factory):
    """300 MNIST test images (and a few training ones) in a .npz of their own."""
    arrays = datasets.read_npz(datasets.BUNDLED_MNIST)
    path = tmp_path_factory.mktemp("other") / "other.npz"
    np.savez(path, x_train=arrays["x_train"][:100], y_train=arrays["y_train"][:100],
             x_test=arrays["x_test"][-300:], y_test=arrays["y_test"][-300:])
    return path


def test_evaluate_on_an_npz_writes_its_own_folder_and_leaves_the_runs_evaluation_untouched(
        trained_run, other_npz):
    own = run_cli("digits.evaluate", "--model", str(trained_run))
    assert own.returncode == 0, own.stderr[-3000:]
    before = files_of(trained_run)
    assert {"evaluation.json", "metrics.json"} <= {str(path) for path in before}

    result = run_cli("digits.evaluate", "--model", str(trained_run), "--data", str(other_npz))
    assert result.returncode == 0, result.stderr[-3000:]
    assert files_of(trained_run) == before  # byte for byte, figures and events included
    folder = trained_run / "evaluations" / "other"
    saved = json.loads((folder / "evaluation.json").read_text())
    assert saved["images"] == 300 and saved["data"] == str(other_npz.resolve())
    arrays = np.load(other_npz)
    expected = scores(model_files.load(trained_run), arrays["x_test"], arrays["y_test"])
    assert saved["test_accuracy"] == pytest.approx(expected["accuracy"], abs=1e-9)
    assert saved["inverted_test_accuracy"] == pytest.approx(expected["inverted_accuracy"],
                                                            abs=1e-9)
    for name, (width, height) in FIGURES.items():
        assert_png_drawn(folder / "plots" / name, width, height)
    assert f"in {folder}" in result.stdout


def test_the_positional_run_folder_still_works_with_a_deprecation_line(trained_run, tmp_path):
    result = run_cli("digits.evaluate", str(trained_run))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.strip() == ("digits-evaluate: the positional RUN_DIR is deprecated; "
                                     "use --model RUN_DIR")
    twice = run_cli("digits.evaluate", str(trained_run), "--model", str(trained_run))
    assert twice.returncode == 2 and "give the model once" in twice.stderr


def test_a_missing_data_file_is_one_line_and_exit_1(trained_run, tmp_path):
    result = run_cli("digits.evaluate", "--model", str(trained_run), "--data",
                     str(tmp_path / "absent.npz"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("digits-evaluate: ")
    assert len(result.stderr.strip().splitlines()) == 1
