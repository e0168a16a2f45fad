"""The training entry point, end to end on a few hundred real images."""

import csv
import json

import keras
import numpy as np
import pytest

from helpers import SMOKE, compose_train, run_cli
from digits import evaluate, train

ARTEFACTS = ["model.keras", "metrics.json", "history.csv", "plots/curves.png",
             "plots/augmentation.png", "plots/confusion_matrix.png", "plots/errors.png",
             "plots/reliability.png", ".hydra/config.yaml", "checkpoints/best.keras"]


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    result = run_cli("digits.train", *SMOKE, "trainer.epochs=2", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir, result


def test_one_run_writes_every_artefact(cli_run):
    run_dir, result = cli_run
    for name in ARTEFACTS:
        assert (run_dir / name).is_file(), name
    assert f"Run folder: {run_dir}" in result.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("test_accuracy", "test_loss", "inverted_test_accuracy", "epochs", "best_epoch",
                "train_seconds"):
        assert key in metrics
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["test_loss"] > 0
    assert metrics["epochs"] == 2 and metrics["best_epoch"] in (0, 1)
    assert metrics["train_seconds"] > 0
    with open(run_dir / "history.csv") as file:
        rows = list(csv.DictReader(file))
    assert [int(row["epoch"]) for row in rows] == [0, 1]
    assert {"accuracy", "loss", "val_accuracy", "val_loss"} <= set(rows[0])
    assert any(p.name.startswith("events.out.tfevents") for p in (run_dir / "tensorboard").rglob("*"))


def test_saved_model_loads_in_safe_mode_and_matches_the_metrics(cli_run):
    run_dir, _ = cli_run
    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    cfg = compose_train(SMOKE)
    from digits import data
    splits = data.load(cfg.data, cfg.seed)
    result = evaluate.evaluate(model, splits.x_test, splits.y_test)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert result["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    # Not saved: its RandomAffine is digits' own layer, which plain Keras cannot load.
    assert not (run_dir / "augmentation.keras").exists()


def test_a_finished_run_folder_is_never_overwritten(cli_run):
    run_dir, _ = cli_run
    before = (run_dir / "metrics.json").read_text()
    result = run_cli("digits.train", *SMOKE, f"hydra.run.dir={run_dir}")
    assert result.returncode == 2
    assert "already holds a finished run" in result.stderr + result.stdout
    assert (run_dir / "metrics.json").read_text() == before


def test_cfg_job_prints_the_composed_config_without_training(tmp_path):
    result = run_cli("digits.train", "model=cnn", "--cfg", "job", cwd=tmp_path)
    assert result.returncode == 0
    assert "filters:" in result.stdout and "learning_rate: 0.001" in result.stdout
    assert not (tmp_path / "outputs").exists()


SMALL = ["data.train_size=1000", "data.val_size=500", "data.test_size=500", "trainer.epochs=3",
         "trainer.verbose=0", "trainer.batch_size=16", "model.hidden_units=[64]"]


def test_training_learns(tmp_path):
    metrics = train.run_training(compose_train(SMALL + ["augmentation=none"]), tmp_path)
    assert metrics["test_accuracy"] > 0.75  # 1000 images, 3 epochs: far above chance (0.1)


def test_a_seeded_run_repeats_exactly_augmentation_included(tmp_path):
    cfg = compose_train(SMALL)
    first = train.run_training(cfg, tmp_path / "a")
    keras.backend.clear_session()
    second = train.run_training(cfg, tmp_path / "b")
    for key in ("test_accuracy", "test_loss", "inverted_test_accuracy", "best_epoch"):
        assert first[key] == second[key], key
    a = np.loadtxt(tmp_path / "a" / "history.csv", delimiter=",", skiprows=1)
    b = np.loadtxt(tmp_path / "b" / "history.csv", delimiter=",", skiprows=1)
    np.testing.assert_array_equal(a, b)
    keras.backend.clear_session()
    other = train.run_training(compose_train(SMALL + ["seed=7"]), tmp_path / "c")
    assert other["test_loss"] != first["test_loss"]
