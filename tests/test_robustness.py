"""The robustness suite: its fixed images, its photos, its accounting and what it writes."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from digits.synth import corruptions
from digits.data import datasets
from digits.models import model_files
from digits.evaluation import robustness
from digits.synth import hand_folders
from digits.vision import mnist_style
from digits.config.schemas import DataConfig
from digits.config.schemas import DEFAULT_SEED

SMALL_CNN = Path(__file__).parent / "data" / "small_cnn.keras"


@pytest.fixture(scope="module")
def validation():
    splits = datasets.load(DataConfig(), seed=DEFAULT_SEED)
    return splits.x_val, splits.y_val


@pytest.fixture(scope="module")
def small_suite(validation):
    return robustness.build(*robustness.subset(*validation, 20), split="validation")


def test_the_subset_is_fixed_and_stratified(validation):
    images, labels = robustness.subset(*validation, 200)
    again, _ = robustness.subset(*validation, 200)
    np.testing.assert_array_equal(images, again)
    share = np.bincount(validation[1], minlength=10) / len(validation[1])
    assert np.abs(np.bincount(labels, minlength=10) - 200 * share).max() <= 1


def test_a_bare_model_file_is_measured_on_the_default_split(tmp_path, validation):
    shutil.copy(SMALL_CNN, tmp_path / "model.keras")
    images, labels = robustness.run_split(tmp_path, "validation")
    np.testing.assert_array_equal(images, validation[0])
    with pytest.raises(ValueError, match="validation or test"):
        robustness.run_split(tmp_path, "train")


def test_a_run_is_measured_on_its_own_validation_split(tmp_path):
    shutil.copy(SMALL_CNN, tmp_path / "model.keras")
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("seed: 7\ndata:\n  val_size: 500\n")
    images, labels = robustness.run_split(tmp_path, "validation")
    expected = datasets.load(DataConfig(val_size=500), seed=7)
    np.testing.assert_array_equal(images, expected.x_val)
    np.testing.assert_array_equal(labels, expected.y_val)


def test_a_photographed_digit_reads_back_as_itself(validation):
    digit = validation[0][0]
    photo = robustness.photograph(digit, np.random.default_rng(0))
    assert photo.shape == (robustness.PHOTO_SIDE,) * 2
    assert np.median(photo) > 150 and photo.min() < 90  # dark ink on light paper
    read = mnist_style.to_mnist(photo) > 127
    original = digit > 127
    overlap = (read & original).sum() / (read | original).sum()
    assert overlap > 0.5


def test_the_suite_holds_every_corruption_on_both_paths(small_suite, validation):
    names = ("clean",) + robustness.NAMES
    assert set(small_suite.seen) == {(path, name) for path in robustness.PATHS for name in names}
    images, _ = robustness.subset(*validation, 20)
    np.testing.assert_array_equal(small_suite.seen["raw", "clean"], images)
    for key, seen in small_suite.seen.items():
        assert seen.shape == (20, 28, 28) and seen.dtype == np.uint8, key
    assert small_suite.readable["photo", "clean"].all()
    assert not np.array_equal(small_suite.seen["raw", "fog"], images)
    assert len(small_suite.photos["zigzag"]) == robustness.EXAMPLES


def test_evaluation_counts_unreadable_photos_wrong_and_reports_held_out_apart(small_suite):
    model = model_files.load(SMALL_CNN)
    result = robustness.evaluate(model, small_suite)
    for path in robustness.PATHS:
        accuracy = result[path]["accuracy"]
        assert result[path]["mean"] == pytest.approx(np.mean([accuracy[n]
                                                              for n in robustness.NAMES]))
        assert result[path]["held_out_mean"] == pytest.approx(
            np.mean([accuracy[n] for n in sorted(corruptions.HELD_OUT)]))
    # MNIST models misread grey grounds; the photo reader's background removal undoes it.
    assert result["raw"]["accuracy"]["clean"] > result["raw"]["accuracy"]["brightness"] + 0.3
    # The same suite with every clean photo unreadable: their right answers no longer count.
    small_suite.readable["photo", "clean"] = np.zeros(20, bool)
    try:
        blind = robustness.evaluate(model, small_suite)
    finally:
        small_suite.readable["photo", "clean"] = np.ones(20, bool)
    assert blind["photo"]["accuracy"]["clean"] == 0
    assert blind["photo"]["unreadable"]["clean"] == 20
    text = robustness.table({"a": result, "b": blind})
    assert "zigzag *" in text and "brightness *" not in text
    assert text.count("\n") == len(robustness.NAMES) + 6


def test_run_writes_json_figures_and_tensorboard(tmp_path):
    shutil.copy(SMALL_CNN, tmp_path / "model.keras")
    result, out_dir = robustness.run(tmp_path, size=12)
    assert out_dir == tmp_path / "evaluations" / "robustness" / "validation"
    saved = json.loads((out_dir / "robustness.json").read_text())
    assert saved["photo"]["accuracy"] == result["photo"]["accuracy"]
    assert saved["images"] == 12 and saved["held_out"] == sorted(corruptions.HELD_OUT)
    for figure in ("accuracy.png", "examples_raw.png", "examples_photo.png"):
        assert (out_dir / figure).read_bytes()[:4] == b"\x89PNG"
    assert list((out_dir / "tensorboard").glob("events.out.tfevents.*"))


def test_hand_photos_are_those_digits_handwriting_writes(tmp_path):
    hand_folders.write_folder(tmp_path, per_digit=1, hand_index=13, seed=1000)
    files, file_labels = datasets.read_folder(tmp_path)
    images, labels, readable = robustness.hand_photos(13, per_digit=1, seed=1000)
    assert readable.all() and labels.tolist() == list(range(10))
    np.testing.assert_array_equal(labels, file_labels)
    np.testing.assert_array_equal(images, files)


def test_digits_evaluate_robustness_writes_the_suite_into_the_run(tmp_path, monkeypatch, capsys):
    from digits import evaluate

    shutil.copy(SMALL_CNN, tmp_path / "model.keras")
    (tmp_path / ".hydra").mkdir()  # a run folder: its outputs are digits' own to rewrite
    (tmp_path / ".hydra" / "config.yaml").write_text("seed: 42\n")
    monkeypatch.setattr(robustness, "SUITE_SIZE", 10)
    assert evaluate.main(["--model", str(tmp_path), "--robustness", "--split", "test"]) == 0
    out_dir = tmp_path / "evaluations" / "robustness" / "test"
    saved = json.loads((out_dir / "robustness.json").read_text())
    assert saved["split"] == "test" and saved["images"] == 10
    assert "zigzag *" in capsys.readouterr().out
    assert evaluate.main(["--model", str(tmp_path), "--split", "test"]) == 2
    assert evaluate.main(["--model", str(tmp_path), "--robustness", "--data", "x.npz"]) == 2
    assert "leave out --data" in capsys.readouterr().err


def test_a_handwriting_run_is_measured_on_its_mnist_validation_digits_alone(tmp_path):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    shutil.copy(SMALL_CNN, run / "model.keras")
    (run / ".hydra" / "config.yaml").write_text(
        "data:\n  source: handwriting\n  val_size: 300\n  train_size: 100\n  test_size: 50\n"
        "  reader_copies: 1\n  hand_photos: 1\n  corrupted_fraction: 0.2\n"
        "  val_reader_copies: 1\nseed: 5\n")
    images, labels = robustness.run_split(run, "validation")
    plain = datasets.load(DataConfig(val_size=300, train_size=100, test_size=50), seed=5)
    np.testing.assert_array_equal(images, plain.x_val)  # no reader views among them
    np.testing.assert_array_equal(labels, plain.y_val)


def test_hand_accuracy_counts_the_readings_that_match_each_photos_digit():
    import keras

    # A model that answers 3 whatever it sees: right on exactly the readable photos of 3s.
    always_three = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                     keras.layers.Dense(10, activation="softmax",
                                                        kernel_initializer="zeros")])
    always_three.layers[-1].bias.assign(np.eye(10, dtype="float32")[3])
    result = robustness.hand_accuracy({"three": always_three}, per_digit=1)["three"]
    for hand in (0, 13):
        _, labels, readable = robustness.hand_photos(hand, per_digit=1)
        assert result["per_hand"][hand] == ((labels == 3) & readable).mean()
    assert result["photos_per_hand"] == 10 and len(result["per_hand"]) == 20
    # the reader finds the 3 in (nearly) every hand: one right answer in ten photos
    assert sum(value == 0.1 for value in result["per_hand"].values()) >= 18
