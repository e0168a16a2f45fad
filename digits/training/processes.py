"""Training runs in processes of their own: one process, or two workers on loopback.

Logical devices and TF_CONFIG must be set before TensorFlow starts, so every distributed run is a
new Python process. The tests of `trainer.strategy` and `benchmarks/distributed.py` share these.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

WORKER = """
import json, logging, sys
from pathlib import Path
logging.basicConfig(level=logging.INFO)
import tensorflow as tf
cpus = int(sys.argv[2])
if cpus > 1:
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * cpus)
from hydra import compose, initialize_config_module
from digits.config import schemas
from digits.training.train_digits import run_training
schemas.register_configs()
with initialize_config_module("digits.conf", version_base="1.3"):
    cfg = schemas.to_objects(compose("train", overrides=json.loads(sys.argv[3])))
metrics = run_training(cfg, Path(sys.argv[1]))
print("RESULT", json.dumps(metrics))
"""


def start(run_dir: Path, overrides: list[str], cpus: int = 1,
          env: dict | None = None) -> subprocess.Popen:
    """A training process; its output goes to files (pipes could fill and stall a collective)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([sys.executable, "-c", WORKER, str(run_dir), str(cpus),
                                json.dumps(list(overrides))], env={**os.environ, **(env or {})},
                               stdout=open(run_dir / "stdout.txt", "w"),
                               stderr=open(run_dir / "stderr.txt", "w"))
    process.run_dir = run_dir
    return process


def result(process: subprocess.Popen, timeout: int = 600) -> tuple[dict, str]:
    """(metrics, log) of a finished training process; RuntimeError with its log's end if it failed."""
    process.wait(timeout=timeout)
    out, err = ((process.run_dir / name).read_text() for name in ("stdout.txt", "stderr.txt"))
    if process.returncode != 0:
        raise RuntimeError(f"training in {process.run_dir} exited {process.returncode}:\n"
                           + err[-3000:])
    return json.loads(out.split("RESULT ", 1)[1]), err


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def two_workers(scratch: Path, overrides: list[str], timeout: int = 600) -> list[tuple[dict, str]]:
    """(metrics, log) of both workers of a two-worker MultiWorkerMirroredStrategy run."""
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    processes = [start(scratch / f"worker{index}", [*overrides, "trainer.strategy=multi_worker"],
                       env={"TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                                     "task": {"type": "worker", "index": index}})})
                 for index in range(2)]
    return [result(process, timeout) for process in processes]


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
