"""metrics.json describes model.keras: which weights it holds, from which epoch, what they score
on the validation split, and the architecture actually trained."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from helpers import compose_train
from digits.training import train_digits
from digits.data import datasets
from digits.models import model_files
from digits.training import trainer
from digits.models import inference

TINY = ["data.train_size=400", "data.val_size=200", "data.test_size=100", "trainer.epochs=3",
        "trainer.verbose=0", "trainer.batch_size=32", "model.hidden_units=[16]"]
VARIANTS = {
    # A rate high enough that the validation loss goes up and down: the best epoch is often
    # not the last.
    "early_stopping": ["trainer.learning_rate=0.05", "trainer.early_stopping.patience=5"],
    "no_early_stopping": ["trainer.early_stopping.enabled=false"],
    "ema": ["trainer.ema_momentum=0.9", "trainer.early_stopping.restore_best_weights=false"],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("metrics")
    made = {}
    for name, overrides in VARIANTS.items():
        cfg = compose_train([*TINY, *overrides])
        train_digits.run_training(cfg, root / name)
        made[name] = (root / name, cfg)
    return made


def saved(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    history = trainer.read_history(run_dir / "history.csv")
    return metrics, history


def validation_accuracy_of_the_saved_model(run_dir, cfg) -> float:
    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    splits = datasets.load(cfg.data, cfg.seed)
    predicted = inference.predict(model, splits.x_val).argmax(axis=1)
    return float((predicted == splits.y_val).mean())


@pytest.mark.parametrize("name", list(VARIANTS))
def test_val_accuracy_is_the_saved_models_on_the_validation_split(runs, name):
    run_dir, cfg = runs[name]
    metrics, _ = saved(run_dir)
    assert metrics["val_accuracy"] == validation_accuracy_of_the_saved_model(run_dir, cfg)


def test_early_stopping_keeps_and_names_the_best_epoch(runs):
    metrics, history = saved(runs["early_stopping"][0])
    best = trainer.best_epoch(history, "val_loss")
    assert metrics["weights"] == "best_epoch"
    assert metrics["best_epoch"] == metrics["weights_epoch"] == best
    assert metrics["val_accuracy"] == pytest.approx(history["val_accuracy"][best], abs=1e-6)


def test_without_early_stopping_the_last_epoch_is_kept_and_no_best_epoch_is_claimed(runs):
    metrics, history = saved(runs["no_early_stopping"][0])
    assert metrics["weights"] == "last_epoch" and metrics["weights_epoch"] == 2
    assert "best_epoch" not in metrics
    assert metrics["val_accuracy"] == pytest.approx(history["val_accuracy"][-1], abs=1e-6)


def test_ema_keeps_the_average_whose_accuracy_was_never_logged_in_training(runs):
    metrics, history = saved(runs["ema"][0])
    assert metrics["weights"] == "moving_average" and metrics["weights_epoch"] == 2
    assert "best_epoch" not in metrics
    # Measured afresh: the average is not the last epoch's weights that history.csv validated.
    model = model_files.load(runs["ema"][0])
    assert model.optimizer.use_ema


def test_model_is_the_architecture_trained_also_when_fine_tuning(runs, tmp_path):
    metrics, _ = saved(runs["no_early_stopping"][0])
    assert metrics["model"] == {"name": "mlp", "config": {"name": "mlp", "hidden_units": [16],
                                                          "batch_norm": True, "dropout": 0.0}}
    source = runs["no_early_stopping"][0]
    cfg = compose_train([*TINY[:-1], "trainer.epochs=1", f"trainer.init_from={source}",
                         "model=cnn", "trainer.early_stopping.enabled=false"])
    fine_tuned = train_digits.run_training(cfg, tmp_path)
    # The model group says cnn, but the mlp loaded from init_from is what was trained.
    assert fine_tuned["model"] == {"name": "mlp", "init_from": str(source / "model.keras"),
                                   "freeze_features": False}
    assert json.loads((tmp_path / "metrics.json").read_text())["model"] == fine_tuned["model"]
    assert np.isfinite(fine_tuned["initial_test_accuracy"])
