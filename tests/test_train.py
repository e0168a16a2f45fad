"""The training entry point, end to end on a few hundred real images."""

import csv
import fcntl
import json

import keras
import numpy as np
import pytest
from omegaconf import OmegaConf

from helpers import SMOKE, compose_train, run_cli, scores
from digits.training import train_digits
from digits.config import schemas
from digits.data import datasets

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
    assert metrics["train_seconds"] > 0
    assert any(p.name.startswith("events.out.tfevents") for p in (run_dir / "tensorboard").rglob("*"))


def read_history(run_dir) -> dict[str, list[float]]:
    with open(run_dir / "history.csv") as file:
        rows = list(csv.DictReader(file))
    return {key: [float(row[key]) for row in rows] for key in rows[0]}


def run_splits(run_dir) -> datasets.Splits:
    """The data splits of a run, rebuilt from the config it saved."""
    saved = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    return datasets.load(schemas.data_config(OmegaConf.to_container(saved.data)), saved.seed)


def test_metrics_agree_with_the_history(cli_run):
    run_dir, _ = cli_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    history = read_history(run_dir)
    assert history["epoch"] == [0, 1] and metrics["epochs"] == 2
    # early stopping restores the best epoch on val_loss (the defaults): the lowest
    best = int(np.argmin(history["val_loss"]))
    assert metrics["weights"] == "best_epoch"
    assert metrics["best_epoch"] == metrics["weights_epoch"] == best
    assert metrics["val_accuracy"] == pytest.approx(history["val_accuracy"][best])
    assert metrics["best_val_accuracy"] == pytest.approx(max(history["val_accuracy"]))


def test_saved_model_loads_in_safe_mode_and_matches_the_metrics(cli_run):
    run_dir, _ = cli_run
    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    splits = run_splits(run_dir)
    assert len(splits.y_test) == 200
    recomputed = scores(model, splits.x_test, splits.y_test)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test_accuracy"] == pytest.approx(recomputed["accuracy"], abs=1e-6)
    assert metrics["inverted_test_accuracy"] == pytest.approx(recomputed["inverted_accuracy"],
                                                              abs=1e-6)
    assert metrics["test_loss"] == pytest.approx(recomputed["loss"], rel=1e-3)
    # Not saved: its RandomAffine is digits' own layer, which plain Keras cannot load.
    assert not (run_dir / "augmentation.keras").exists()


def test_a_finished_run_folder_is_never_overwritten(cli_run):
    run_dir, _ = cli_run
    before = (run_dir / "metrics.json").read_text()
    result = run_cli("digits.train", *SMOKE, f"hydra.run.dir={run_dir}")
    assert result.returncode == 2
    assert "already holds a finished run" in result.stderr + result.stdout
    assert (run_dir / "metrics.json").read_text() == before


def test_a_folder_in_use_by_another_run_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with open(run_dir / ".lock", "w") as lock:  # this test process is the other, live run
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run_cli("digits.train", *SMOKE, f"hydra.run.dir={run_dir}")
    assert result.returncode == 2
    assert f"{run_dir} is in use by another run" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert not (run_dir / "history.csv").exists() and not (run_dir / "metrics.json").exists()


def test_resuming_a_folder_that_is_not_a_run_is_refused(tmp_path):
    result = run_cli("digits.train", f"resume={tmp_path}")
    assert result.returncode == 2
    assert f"cannot resume {tmp_path}: it is not a run folder" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert {path.name for path in tmp_path.iterdir()} <= {"train.log"}  # Hydra's log only


def test_cfg_job_prints_the_composed_config_without_training(tmp_path):
    result = run_cli("digits.train", "model=cnn", "--cfg", "job", cwd=tmp_path)
    assert result.returncode == 0
    assert "filters:" in result.stdout and "learning_rate: 0.001" in result.stdout
    assert not (tmp_path / "outputs").exists()


SMALL = ["data.train_size=1000", "data.val_size=500", "data.test_size=500", "trainer.epochs=3",
         "trainer.verbose=0", "trainer.batch_size=16", "model.hidden_units=[64]"]


def test_training_learns(tmp_path):
    metrics = train_digits.run_training(compose_train(SMALL + ["augmentation=none"]), tmp_path)
    assert metrics["test_accuracy"] > 0.75  # 1000 images, 3 epochs: far above chance (0.1)


def test_a_seeded_run_repeats_exactly_augmentation_included(tmp_path):
    cfg = compose_train(SMALL)
    first = train_digits.run_training(cfg, tmp_path / "a")
    keras.backend.clear_session()
    second = train_digits.run_training(cfg, tmp_path / "b")
    for key in ("test_accuracy", "test_loss", "inverted_test_accuracy", "best_epoch"):
        assert first[key] == second[key], key
    a = np.loadtxt(tmp_path / "a" / "history.csv", delimiter=",", skiprows=1)
    b = np.loadtxt(tmp_path / "b" / "history.csv", delimiter=",", skiprows=1)
    np.testing.assert_array_equal(a, b)
    keras.backend.clear_session()
    other = train_digits.run_training(compose_train(SMALL + ["seed=7"]), tmp_path / "c")
    assert other["test_loss"] != first["test_loss"]


def test_trainer_seed_changes_the_weights_and_keeps_the_data(tmp_path, monkeypatch):
    """Ensemble members: trainer.seed draws other weights, shuffling and augmentation from the
    same data (validation split included); trainer.seed equal to seed is the plain run."""
    data_seeds = []
    load = datasets.load
    monkeypatch.setattr(datasets, "load", lambda cfg, seed: data_seeds.append(seed) or load(cfg, seed))
    plain = train_digits.run_training(compose_train(SMALL), tmp_path / "a")
    keras.backend.clear_session()
    same = train_digits.run_training(compose_train(SMALL + ["trainer.seed=42"]), tmp_path / "b")
    assert same["test_loss"] == plain["test_loss"]
    keras.backend.clear_session()
    member = train_digits.run_training(compose_train(SMALL + ["trainer.seed=7"]), tmp_path / "c")
    assert member["test_loss"] != plain["test_loss"]
    assert data_seeds == [42, 42, 42]
