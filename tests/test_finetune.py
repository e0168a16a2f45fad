"""Fine-tuning on your own handwriting: digits-handwriting, data=folder, trainer.init_from."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from helpers import SMALL_CNN, compose_train, run_cli, scores
from digits.training import train_digits
from digits.data import datasets
from digits.models import model_files
from digits.synth import hand_folders
from digits.vision import mnist_style
from digits.config.schemas import ConfigError, FolderDataConfig

HAND = 3  # a serif italic hand: its footed "1" is read as "2" by MNIST models


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hand")
    assert hand_folders.write_folder(folder, per_digit=6, hand_index=HAND, seed=0) == 60
    return folder


def test_handwriting_writes_a_repeatable_labelled_folder(photos, tmp_path):
    assert sorted(p.name for p in photos.iterdir()) == [str(d) for d in range(10)]
    files = sorted(photos.rglob("*.jpg"))
    assert len(files) == 60
    image = cv2.imread(str(files[0]))
    assert image.ndim == 3 and min(image.shape[:2]) >= 300  # a photo, not a 28x28 crop
    hand_folders.write_folder(tmp_path, per_digit=6, hand_index=HAND, seed=0)
    assert all((tmp_path / f.relative_to(photos)).read_bytes() == f.read_bytes() for f in files)
    hand_folders.write_folder(tmp_path / "seed1", per_digit=1, hand_index=HAND, seed=1)
    assert (tmp_path / "seed1/0").iterdir().__next__().read_bytes() != files[0].read_bytes()


def test_folder_is_read_like_predict_and_split_stratified_and_seeded(photos):
    x, y = datasets.read_folder(photos)
    assert x.shape == (60, 28, 28) and x.dtype == np.uint8
    assert np.bincount(y, minlength=10).tolist() == [6] * 10
    first = sorted((photos / "0").iterdir())[0]
    np.testing.assert_array_equal(x[0], mnist_style.to_mnist(cv2.imread(str(first))))

    cfg = FolderDataConfig(path=str(photos), val_fraction=0.17, test_fraction=0.5)
    splits = datasets.load(cfg, seed=1)
    for labels, per_class in ((splits.y_train, 2), (splits.y_val, 1), (splits.y_test, 3)):
        assert np.bincount(labels, minlength=10).tolist() == [per_class] * 10
    again, other = datasets.load(cfg, seed=1), datasets.load(cfg, seed=2)
    np.testing.assert_array_equal(again.x_test, splits.x_test)
    assert not np.array_equal(other.x_test, splits.x_test)


def test_bad_photos_are_skipped_and_named_bad_folders_refused(photos, tmp_path, caplog):
    for digit in range(10):
        (tmp_path / str(digit)).mkdir()
        for source in sorted((photos / str(digit)).iterdir())[:3]:
            (tmp_path / str(digit) / source.name).write_bytes(source.read_bytes())
    (tmp_path / "3" / "broken.jpg").write_bytes(b"not a jpeg")
    cv2.imwrite(str(tmp_path / "4" / "blank.png"), np.full((100, 100), 255, np.uint8))
    with caplog.at_level(logging.WARNING):
        x, y = datasets.read_folder(tmp_path)
    assert len(x) == 30
    assert "skipped 2 of 32 photos" in caplog.text
    assert "broken.jpg" in caplog.text and "blank.png" in caplog.text

    with pytest.raises(datasets.DataError, match="not a folder"):
        datasets.read_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(datasets.DataError, match="sub-folders 0 .. 9"):
        datasets.read_folder(tmp_path / "empty")
    (tmp_path / "few" / "7").mkdir(parents=True)
    for source in sorted((photos / "7").iterdir())[:2]:
        (tmp_path / "few" / "7" / source.name).write_bytes(source.read_bytes())
    with pytest.raises(datasets.DataError, match="too few"):
        datasets.load(FolderDataConfig(path=str(tmp_path / "few"), val_fraction=0.1,
                                   test_fraction=0.1), seed=0)


def test_split_fractions_and_freezing_without_a_model_are_refused():
    with pytest.raises(ConfigError, match="data.val_fraction"):
        FolderDataConfig(path="x", val_fraction=0)
    with pytest.raises(ConfigError, match="< 1"):
        FolderDataConfig(path="x", val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ConfigError, match="trainer.freeze_features"):
        compose_train(["trainer.freeze_features=true"])


def finetune(photos: Path, run_dir: Path, *overrides: str) -> dict:
    cfg = compose_train(["experiment=finetune", f"data.path={photos}",
                         f"trainer.init_from={SMALL_CNN}", "data.test_fraction=0.5",
                         "data.val_fraction=0.17", "trainer.epochs=3", "trainer.verbose=0",
                         *overrides])
    return train_digits.run_training(cfg, run_dir)


def test_finetuning_starts_from_the_given_model_and_reports_before_and_after(photos, tmp_path):
    metrics = finetune(photos, tmp_path)
    splits = datasets.load(FolderDataConfig(path=str(photos), val_fraction=0.17, test_fraction=0.5),
                       seed=42)
    start, tuned = model_files.load(SMALL_CNN), model_files.load(tmp_path / "model.keras")
    before = scores(start, splits.x_test, splits.y_test)["accuracy"]
    assert metrics["initial_test_accuracy"] == pytest.approx(before, abs=1e-6)
    after = scores(tuned, splits.x_test, splits.y_test)
    assert metrics["test_accuracy"] == pytest.approx(after["accuracy"], abs=1e-6)
    assert metrics["test_loss"] == pytest.approx(after["loss"], rel=1e-3)
    assert metrics["epochs"] == 3
    assert tuned.count_params() == start.count_params()
    assert not np.array_equal(start.layers[0].get_weights()[0], tuned.layers[0].get_weights()[0])


def test_frozen_features_keep_every_weight_but_the_classifiers(photos, tmp_path):
    finetune(photos, tmp_path, "trainer.freeze_features=true")
    start, tuned = model_files.load(SMALL_CNN), model_files.load(tmp_path / "model.keras")
    for old, new in zip(start.layers[:-1], tuned.layers[:-1]):
        for old_weight, new_weight in zip(old.get_weights(), new.get_weights()):
            np.testing.assert_array_equal(old_weight, new_weight)
    assert not np.array_equal(start.layers[-1].get_weights()[0], tuned.layers[-1].get_weights()[0])


def test_cli_errors_for_a_missing_model_or_path(photos, tmp_path):
    result = run_cli("digits.train", "experiment=finetune", f"data.path={photos}",
                     f"hydra.run.dir={tmp_path / 'a'}")
    assert result.returncode == 2
    assert ("trainer.init_from is required: add trainer.init_from=... to the command"
            in result.stdout + result.stderr)
    assert "validation" not in result.stdout + result.stderr  # stopped before reading the photos
    result = run_cli("digits.train", "experiment=finetune", f"data.path={photos}",
                     f"trainer.init_from={tmp_path / 'nothing'}", f"hydra.run.dir={tmp_path / 'b'}")
    assert result.returncode == 2 and "no model at" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_evaluate_reads_a_folder_of_photos(photos, tmp_path):
    model = tmp_path / "model.keras"
    model.write_bytes(SMALL_CNN.read_bytes())
    result = run_cli("digits.evaluate", "--model", str(tmp_path), "--data", str(photos))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "of 60" in result.stdout
    evaluation = tmp_path / "evaluations" / photos.name / "evaluation.json"
    assert json.loads(evaluation.read_text())["images"] == 60
