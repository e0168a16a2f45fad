"""Sweeps on a Ray cluster (`hydra/launcher=ray_cluster`): a local cluster from `ray start --head`."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import SMOKE, run_cli

pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="the ray extra is needed")

RAY = [sys.executable, "-m", "ray.scripts.scripts"]  # the `ray` command of this Python


def ray_processes_running() -> bool:
    """Whether a Ray cluster already runs here (its GCS server or raylet)."""
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() in ("gcs_server", "raylet"):
                return True
        except OSError:  # the process ended while we looked
            pass
    return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster():
    """A one-node Ray cluster started as a user would, stopped again even when a test fails."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the cluster check reads /proc (Linux)")
    if ray_processes_running():  # `ray stop` stops every Ray process here: never someone else's
        pytest.skip("a Ray cluster is already running on this machine")
    with pytest.MonkeyPatch.context() as env:
        env.delenv("RAY_ADDRESS", raising=False)  # address=auto must find the cluster started here
        try:
            started = subprocess.run(
                [*RAY, "start", "--head", f"--port={free_port()}", "--num-cpus=2",
                 "--include-dashboard=false", "--disable-usage-stats"],
                capture_output=True, text=True, timeout=180)
            assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
            yield
        finally:
            subprocess.run([*RAY, "stop", "--force"], capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def ray_sweep(ray_cluster, tmp_path_factory):
    sweep = tmp_path_factory.mktemp("ray_sweep")
    result = run_cli("digits.train", "--multirun", "hydra/launcher=ray_cluster",
                     "augmentation=none,seed", "trainer.learning_rate=0.001,0.003", *SMOKE,
                     "model.hidden_units=[32]", f"hydra.sweep.dir={sweep}", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return sweep, result


@pytest.mark.slow
def test_a_sweep_runs_every_job_on_the_running_cluster(ray_sweep):
    sweep, result = ray_sweep
    assert "Connecting to existing Ray cluster" in result.stderr  # not a Ray of its own
    assert sorted(p.parent.name for p in sweep.glob("*/metrics.json")) == ["0", "1", "2", "3"]


@pytest.mark.slow
def test_the_report_lists_the_ray_sweep_like_any_other(ray_sweep):
    sweep, _ = ray_sweep
    result = run_cli("digits.report", str(sweep))
    assert result.returncode == 0, result.stderr[-2000:]
    runs = [line for line in result.stdout.splitlines() if line.startswith("| ") and
            line.split("|")[1].strip().isdigit()]
    assert sorted(line.split("|")[1].strip() for line in runs) == ["0", "1", "2", "3"]
    assert all(line.endswith("| done |") for line in runs)


def test_the_cluster_launcher_joins_a_cluster_without_an_object_store_size():
    result = run_cli("digits.train", "hydra/launcher=ray_cluster", "--cfg", "hydra")
    assert result.returncode == 0, result.stderr[-2000:]
    launcher = result.stdout.split("\n  launcher:\n", 1)[1].split("\n  sweeper:", 1)[0]
    assert "hydra_ray_launcher.ray_launcher.RayLauncher" in launcher
    assert "address: auto" in launcher and "object_store_memory: null" in launcher
    assert "num_cpus: 1" in launcher and "TF_NUM_INTRAOP_THREADS: '1'" in launcher
    sweep_dir = result.stdout.split("\n  sweep:\n    dir: ", 1)[1].split("\n", 1)[0]
    # jobs run in Ray's folder, not ours: the sweep folder is paths.multirun under our folder
    assert sweep_dir.startswith("${under:${hydra.runtime.cwd},${paths.multirun}}/")
