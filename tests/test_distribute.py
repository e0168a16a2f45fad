"""trainer.strategy on CPU: mirrored over two logical CPU devices; multi_worker as two processes."""

from __future__ import annotations

from pathlib import Path

import keras
import pytest
import tensorflow as tf

from digits.training import distribute
from digits.models import classifiers
from digits.config.schemas import ConfigError
from digits.config.models import MlpConfig
from digits.training.processes import one_process_and_two_workers, result, start, two_workers
from helpers import SMOKE, compose_train


def test_unknown_strategy_and_missing_tf_config_are_refused(monkeypatch):
    with pytest.raises(ConfigError, match="trainer.strategy"):
        compose_train(["trainer.strategy=tpu"])
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        distribute.make_strategy("multi_worker")


# Enough steps that a trained model is well above chance (10 %).
SHORT = SMOKE + ["data.train_size=1000", "trainer.epochs=2", "trainer.batch_size=16"]


def test_mirrored_over_two_logical_cpus(tmp_path):
    metrics, log = result(start(tmp_path, SHORT + ["trainer.strategy=mirrored"], cpus=2))
    assert "strategy mirrored: 2 replicas, global batch 32" in log
    assert 0.2 < metrics["test_accuracy"] <= 1.0
    model = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 3 and all(layer.synchronized for layer in norms)


def test_one_replica_keeps_keras_own_batch_norm():
    model = classifiers.build(MlpConfig())
    distribute.synchronise_batch_norm(model, tf.distribute.get_strategy())
    assert not any(getattr(layer, "synchronized", False) for layer in model.layers)


def test_two_workers_on_loopback(tmp_path):
    (chief, log), (other, _) = two_workers(tmp_path, SHORT)
    assert "strategy multi_worker: 2 replicas, global batch 32" in log
    assert chief["test_accuracy"] == pytest.approx(other["test_accuracy"])  # one synced model
    assert 0.2 < chief["test_accuracy"] <= 1.0


@pytest.mark.slow  # three training processes on 20 000 images: ~1 min on 2 cores
def test_two_workers_learn_as_well_as_one_process_at_the_same_global_batch(tmp_path):
    single, chief = one_process_and_two_workers(tmp_path, 20000, 2, ["augmentation=none"])
    assert single["test_accuracy"] > 0.9
    assert chief["test_accuracy"] == pytest.approx(single["test_accuracy"], abs=0.01)
