"""trainer.strategy on CPU: mirrored over two logical CPU devices; multi_worker as two processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import keras
import pytest
import tensorflow as tf

from conftest import SMOKE, compose_train
from digits import distribute, models
from digits.config import ConfigError, MlpConfig

# Logical devices must be made before TensorFlow starts, so every distributed run is a new process.
WORKER = """
import json, logging, sys
from pathlib import Path
logging.basicConfig(level=logging.INFO)
import tensorflow as tf
cpus = int(sys.argv[2])
if cpus > 1:
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * cpus)
sys.path.insert(0, sys.argv[3])
from conftest import compose_train
from digits.train import run_training
metrics = run_training(compose_train(json.loads(sys.argv[4])), Path(sys.argv[1]))
print("RESULT", json.dumps(metrics))
"""
TESTS = str(Path(__file__).parent)


def start(run_dir: Path, overrides: list[str], cpus: int = 1, env: dict | None = None):
    """A training process; its output goes to files (pipes could fill and stall a collective)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([sys.executable, "-c", WORKER, str(run_dir), str(cpus), TESTS,
                                json.dumps(overrides)], env={**os.environ, **(env or {})},
                               stdout=open(run_dir / "stdout.txt", "w"),
                               stderr=open(run_dir / "stderr.txt", "w"))
    process.run_dir = run_dir
    return process


def result(process, timeout: int = 600) -> tuple[dict, str]:
    """(metrics, log) of a finished worker."""
    process.wait(timeout=timeout)
    out, err = ((process.run_dir / name).read_text() for name in ("stdout.txt", "stderr.txt"))
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.split("RESULT ", 1)[1]), err


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


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
    model = models.build(MlpConfig())
    distribute.synchronise_batch_norm(model, tf.distribute.get_strategy())
    assert not any(getattr(layer, "synchronized", False) for layer in model.layers)


def two_workers(tmp_path: Path, overrides: list[str], timeout: int = 600) -> list[dict]:
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = [start(tmp_path / f"worker{index}", overrides + ["trainer.strategy=multi_worker"],
                       env={"TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                                     "task": {"type": "worker", "index": index}})})
                 for index in range(2)]
    return [result(process, timeout) for process in processes]


def test_two_workers_on_loopback(tmp_path):
    (chief, log), (other, _) = two_workers(tmp_path, SHORT)
    assert "strategy multi_worker: 2 replicas, global batch 32" in log
    assert chief["test_accuracy"] == pytest.approx(other["test_accuracy"])  # one synced model
    assert 0.2 < chief["test_accuracy"] <= 1.0


def one_process_and_two_workers(scratch: Path, train_size: int, epochs: int,
                                overrides: list[str] = (), timeout: int = 600) -> tuple[dict, dict]:
    """Metrics of one process at batch 64 and of the chief of two workers at 32 each: the same
    global batch, scored on the same 2000 test images."""
    common = [f"data.train_size={train_size}", "data.val_size=1000", "data.test_size=2000",
              f"trainer.epochs={epochs}", "trainer.verbose=0",
              "trainer.early_stopping.enabled=false", *overrides]
    single, _ = result(start(scratch / "single", common + ["trainer.batch_size=64"]), timeout)
    (chief, _), _ = two_workers(scratch, common + ["trainer.batch_size=32"], timeout)
    return single, chief


@pytest.mark.slow  # three training processes on 20 000 images: ~1 min on 2 cores
def test_two_workers_learn_as_well_as_one_process_at_the_same_global_batch(tmp_path):
    single, chief = one_process_and_two_workers(tmp_path, 20000, 2, ["augmentation=none"])
    assert single["test_accuracy"] > 0.9
    assert chief["test_accuracy"] == pytest.approx(single["test_accuracy"], abs=0.01)
