"""digits-calibrate: a temperature fitted on validation photos, baked into a model plain Keras
loads, and an "unsure" cut that means something."""

from __future__ import annotations

import json
import shutil
import zipfile

import h5py
import keras
import numpy as np
import pytest

from digits import calibrate, ensemble, predict
from digits.calibration import digit_calibration
from digits.models import model_files
from digits.evaluation import robustness
from digits.vision import mnist_style
from digits.evaluation import confidence as confidence_metrics
from digits.runs import metadata
from digits.models import ensembles
from helpers import PHOTOS, SMALL_CNN, load_in_plain_keras

TINY_RUN = """data:
  source: npz
  path: null
  val_size: 60
  train_size: 100
  test_size: 100
seed: 0
"""


def random_images(count: int = 16) -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 1, (count, 28, 28, 1)).astype("float32")


def tempered(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / T) recomputed from the model's own probabilities: log p is the logits
    up to a constant per row, which softmax ignores."""
    logits = np.log(np.clip(probabilities.astype(np.float64), 1e-30, 1)) / temperature
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def tiny_mlp(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(10, activation="softmax")], name="mlp")


# --- the temperature --------------------------------------------------------------------------
def sampled_labels(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cumulative = probabilities.cumsum(axis=1)
    return (rng.random((len(probabilities), 1)) > cumulative).sum(axis=1).clip(0, 9)


@pytest.mark.parametrize("true_temperature", [0.5, 2.5])
def test_the_fitted_temperature_is_the_one_the_labels_were_drawn_with(true_temperature):
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (20000, 10))
    labels = sampled_labels(confidence_metrics.softmax(logits, true_temperature), rng)
    assert confidence_metrics.fit_temperature(logits, labels) == pytest.approx(true_temperature,
                                                                        rel=0.05)


def test_an_ensembles_temperature_is_fitted_for_its_averaged_probabilities():
    rng = np.random.default_rng(2)
    members = rng.normal(0, 3, (2, 20000, 10))
    labels = sampled_labels(confidence_metrics.probabilities(members, 1.7), rng)
    assert confidence_metrics.fit_temperature(members, labels) == pytest.approx(1.7, rel=0.05)


def test_expected_calibration_error_on_constructed_bins():
    # 10 readings at 0.95 of which 8 right, 10 at 0.55 of which 5 right: |0.8-0.95|/2 + |0.5-0.55|/2
    confidence = np.array([0.95] * 10 + [0.55] * 10)
    correct = np.array([1] * 8 + [0] * 2 + [1] * 5 + [0] * 5, float)
    assert confidence_metrics.expected_calibration_error(confidence, correct) == pytest.approx(0.1)


# --- the threshold ----------------------------------------------------------------------------
def test_the_cut_is_the_lowest_leaving_099_on_the_rest():
    confidence = np.linspace(0.3, 1.0, 1000)
    correct = np.ones(1000, bool)
    correct[:40] = False  # the 40 least confident are wrong, and two confident ones
    correct[[500, 900]] = False
    chosen = confidence_metrics.choose_threshold(confidence[::-1].copy(), correct[::-1].copy())
    # Flagging k < 40 leaves 42 - k wrong among 1000 - k: 0.99 needs 42 - k <= 0.01 (1000 - k),
    # first true at k = 33.
    assert chosen["unsure_below"] == confidence[33]
    assert chosen["flagged_share"] == pytest.approx(0.033)
    assert chosen["unflagged_accuracy"] == pytest.approx((967 - 9) / 967)
    assert chosen["target_met"]


def test_nothing_is_flagged_when_every_reading_is_right():
    chosen = confidence_metrics.choose_threshold(np.linspace(0.2, 1, 50), np.ones(50, bool))
    assert chosen["unsure_below"] == 0.0 and chosen["flagged_share"] == 0.0


def test_ties_are_flagged_together():
    confidence = np.array([0.5, 0.5, 0.5, 0.9] + [0.95] * 96)
    correct = np.array([0, 0, 1] + [1] * 97, bool)  # 0.98: the 0.5s must go, all three
    chosen = confidence_metrics.choose_threshold(confidence, correct)
    assert chosen["unsure_below"] == 0.9 and chosen["flagged_share"] == pytest.approx(0.03)


def test_an_impossible_target_gives_the_best_cut_within_the_flag_budget_and_says_so():
    confidence = np.linspace(0.1, 1.0, 1000)
    correct = np.ones(1000, bool)
    correct[::5] = False  # 20 % wrong at every confidence: flagging cannot reach 0.99
    correct[:100] = False  # the least confident 10 % all wrong
    chosen = confidence_metrics.choose_threshold(confidence, correct)
    assert not chosen["target_met"]
    assert chosen["flagged_share"] == pytest.approx(0.10)  # the whole budget, all wrong ones
    assert chosen["unsure_below"] == confidence[100]
    assert chosen["unflagged_accuracy"] == pytest.approx(720 / 900)


# --- the calibrated model ---------------------------------------------------------------------
def test_the_calibrated_model_gives_softmax_of_logits_over_t():
    model = model_files.load(SMALL_CNN)
    images = random_images()
    expected = tempered(model.predict(images, verbose=0), 2.0)
    calibrated = digit_calibration.with_temperature(model, 2.0)
    np.testing.assert_allclose(calibrated.predict(images, verbose=0), expected, atol=2e-5)
    assert [type(layer).__name__ for layer in calibrated.layers[-3:]] == \
        ["Dense", "Rescaling", "Softmax"]
    assert calibrated.layers[-3].get_config()["activation"] == "linear"


def test_a_calibrated_ensemble_averages_its_tempered_members():
    members = [tiny_mlp(1), tiny_mlp(2)]
    images = random_images()
    expected = np.mean([tempered(m.predict(images, verbose=0), 0.5) for m in members], axis=0)
    calibrated = digit_calibration.with_temperature(ensembles.build(members), 0.5)
    np.testing.assert_allclose(calibrated.predict(images, verbose=0), expected, atol=2e-5)
    assert model_files.is_ensemble(calibrated)  # still refused for fine-tuning


def test_a_calibrated_model_is_not_calibrated_again():
    calibrated = digit_calibration.with_temperature(model_files.load(SMALL_CNN), 2.0)
    with pytest.raises(digit_calibration.CalibrationError, match="calibrated already"):
        digit_calibration.with_temperature(calibrated, 2.0)


def test_the_saved_model_loads_in_plain_keras_without_digits_or_optimizer(tmp_path):
    model = model_files.load(SMALL_CNN)
    images = random_images()
    path = tmp_path / "model.keras"
    digit_calibration.with_temperature(model, 1.5).save(path)
    (loaded,) = load_in_plain_keras([path], images)
    assert not loaded.optimizer
    np.testing.assert_allclose(loaded.output, tempered(model.predict(images, verbose=0), 1.5),
                               atol=2e-5)
    with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as file:
        names = []
        h5py.File(file, "r").visit(names.append)
    assert names and not [name for name in names if "optimizer" in name]


# --- the command ------------------------------------------------------------------------------
@pytest.fixture
def tiny_run(tmp_path, monkeypatch):
    """A run folder holding the small CNN, trained (as it says) on tiny MNIST splits."""
    monkeypatch.setenv("DIGITS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(robustness, "SUITE_SIZE", 20)  # the cut's suite: 20 digits, 22 photos each
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    shutil.copy(SMALL_CNN, run / "model.keras")
    (run / ".hydra" / "config.yaml").write_text(TINY_RUN)
    (run / "metrics.json").write_text(json.dumps({"test_accuracy": 0.9881}))
    return run


def test_calibrate_writes_the_model_metrics_and_command(tiny_run, tmp_path, capsys):
    out = tmp_path / "calibrated"
    argv = ["--model", str(tiny_run), "--output", str(out)]
    assert calibrate.main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] == 0.9881  # the run's own metrics are kept
    assert metrics["source"] == str(tiny_run)
    assert metrics["command"] == "digits-calibrate " + " ".join(argv)
    assert str(tiny_run) in (out / "COMMAND.md").read_text()
    assert (out / ".hydra" / "config.yaml").read_text() == TINY_RUN  # the run's splits
    # the run's metrics.json records none: it was read through this code's reader
    assert metrics["preprocessing_version"] == mnist_style.PREPROCESSING_VERSION
    fit = metrics["calibration"]
    assert fit["suite_photos"] + fit["reader_views"] == fit["images"] > 100  # 60 digits, twice
    assert fit["nll_after"] <= fit["nll_before"]
    assert metrics["unsure_below"] == fit["unsure_below"]
    original, calibrated = model_files.load(tiny_run), model_files.load(out)
    # the cut was chosen on every photo of the validation suite: the robustness suite's own
    # figures for the calibrated model at that cut are the ones calibrate reported
    suite = robustness.build_for(tiny_run, "validation", 20)
    every = robustness.evaluate(calibrated, suite, fit["unsure_below"])["photo"]["calibration"]
    assert every["every_photo"]["images"] == 20 * (1 + len(robustness.NAMES))
    one_photo = 1.5 / every["every_photo"]["images"]  # a photo at the cut may round across it
    assert every["every_photo"]["flagged_share"] == pytest.approx(fit["flagged_share"],
                                                                  abs=one_photo)
    assert every["every_photo"]["unflagged_accuracy"] == pytest.approx(fit["unflagged_accuracy"],
                                                                       abs=2 * one_photo)
    images = random_images()
    np.testing.assert_allclose(calibrated.predict(images, verbose=0),
                               tempered(original.predict(images, verbose=0),
                                        metrics["temperature"]), atol=2e-5)
    assert f"{metrics['temperature']:.4f}" in capsys.readouterr().out
    # digits-predict takes the model's cut as its default
    metrics["unsure_below"] = 0.9999
    (out / "metrics.json").write_text(json.dumps(metrics))
    assert metadata.unsure_below(out, 0.6) == 0.9999
    assert metadata.unsure_below(tiny_run, 0.6) == 0.6
    json_file = tmp_path / "readings.json"
    assert predict.main(["--model", str(out), str(PHOTOS / "Humor-Sans_4_0.jpg"),
                         "--json", str(json_file)]) == 0
    reading = json.loads(json_file.read_text())[0]
    assert reading["low_confidence"] == (reading["confidence"] < 0.9999)


def test_calibrate_refuses_a_folder_with_files_and_the_models_own_folder(tiny_run, tmp_path,
                                                                        capsys):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    assert calibrate.main(["--model", str(tiny_run), "--output", str(taken)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (taken / "notes.txt").read_text() == "mine"
    assert calibrate.main(["--model", str(tiny_run), "--output", str(tiny_run),
                           "--overwrite"]) == 2
    assert "own folder" in capsys.readouterr().err
    assert calibrate.main(["--model", str(tmp_path / "missing"), "--output",
                           str(tmp_path / "new")]) == 2
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("members", [1, 2])
def test_calibrate_refuses_a_calibrated_model_or_ensemble(members, tmp_path, capsys):
    folder = tmp_path / "done"
    folder.mkdir()
    model = model_files.load(SMALL_CNN)
    model = ensembles.build([model, tiny_mlp(1)]) if members == 2 else model
    digit_calibration.with_temperature(model, 2.0).save(folder / "model.keras")
    assert calibrate.main(["--model", str(folder), "--output", str(tmp_path / "again")]) == 2
    assert "calibrated already" in capsys.readouterr().err
    assert not (tmp_path / "again").exists()


def test_the_robustness_report_adds_the_photo_paths_calibration():
    from digits.data import datasets
    from digits.evaluation import robustness
    from digits.config.schemas import DataConfig

    splits = datasets.load(DataConfig(val_size=100, train_size=100, test_size=100), seed=0)
    suite = robustness.build(splits.x_val[:30], splits.y_val[:30])
    model = model_files.load(SMALL_CNN)
    fit = robustness.evaluate(model, suite, 0.95)["photo"]["calibration"]

    def recomputed(names):  # an unreadable photo is flagged: the reader gives no answer
        readable = np.concatenate([suite.readable["photo", name] for name in names])
        seen = np.concatenate([suite.seen["photo", name] for name in names])
        probabilities = model.predict(seen[..., None] / 255, verbose=0)
        kept = readable & (probabilities.max(axis=1) >= 0.95)
        right = probabilities.argmax(axis=1) == np.tile(suite.labels, len(names))
        return len(seen), 1 - kept.mean(), right[kept].mean()

    for part, names in ((fit, ("clean",)), (fit["every_photo"], ("clean",) + robustness.NAMES)):
        images, flagged, unflagged = recomputed(names)
        assert part["images"] == images
        assert part["flagged_share"] == pytest.approx(flagged)
        assert part["unflagged_accuracy"] == pytest.approx(unflagged)
    assert "calibration" not in robustness.evaluate(model, suite)["photo"]
    assert "every photo, ECE" in robustness.table({"small": robustness.evaluate(model, suite,
                                                                                0.95)})


def test_an_ensemble_is_calibrated_on_its_members_validation_split(tiny_run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(tiny_run, other)
    ensemble.make([tiny_run, other], tmp_path / "ensemble")
    # digits-ensemble writes the members' run config beside the ensemble
    assert (tmp_path / "ensemble" / ".hydra" / "config.yaml").read_text() == TINY_RUN
    out = tmp_path / "calibrated"
    assert calibrate.main(["--model", str(tmp_path / "ensemble"), "--output", str(out)]) == 0
    assert (out / ".hydra" / "config.yaml").read_text() == TINY_RUN  # the members' split
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["calibration"]["suite_photos"] <= 60  # the members' 60 validation digits
    calibrated, images = model_files.load(out), random_images()
    assert model_files.is_ensemble(calibrated)
    expected = tempered(model_files.load(SMALL_CNN).predict(images, verbose=0),
                        metrics["temperature"])  # both members are the small CNN
    np.testing.assert_allclose(calibrated.predict(images, verbose=0), expected, atol=2e-5)
