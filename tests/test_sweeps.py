"""Multiruns: a grid with a failing job, the sweep report, HParams in TensorBoard, Optuna."""

import importlib
import json
import os

import pytest
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.util import tensor_util

from helpers import SMOKE, assert_png_drawn, run_cli
from digits import report
from digits.evaluation import sweep_report

TINY = [*SMOKE, "model.hidden_units=[32]"]


def need_plugin(module: str) -> None:
    """The sweeps extra is part of the test install (pip install -e ".[test]"): in CI a missing
    plugin fails; on a developer's machine without it the test is skipped, saying why."""
    try:
        importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail(f"{module} is missing: CI must install the test extra (pip install -e "
                        '".[test]"), which includes the sweeps extra')
        pytest.skip(f"{module} is missing: pip install -e \".[sweeps]\" (never skipped in CI)")


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    sweep = tmp_path_factory.mktemp("grid")
    # A 2x2 grid in which the two jobs with a negative learning rate fail their config check.
    result = run_cli("digits.train", "-m", "trainer.learning_rate=0.001,-1",
                     "augmentation=none,article", *TINY, f"hydra.sweep.dir={sweep}", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return sweep, result


def hparams_of(run_dir):
    accumulator = EventAccumulator(str(run_dir / "tensorboard" / "hparams"))
    accumulator.Reload()
    content = accumulator.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    scalars = {tag: float(tensor_util.make_ndarray(accumulator.Tensors(tag)[0].tensor_proto))
               for tag in accumulator.Tags()["tensors"] if not tag.startswith("_hparams_")}
    values = start.session_start_info.hparams
    return {key: getattr(values[key], values[key].WhichOneof("kind")) for key in values}, scalars


def test_every_job_has_its_folder_and_failures_do_not_stop_the_sweep(grid):
    sweep, result = grid
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1", "2", "3"]
    finished = sorted(p.name for p in sweep.glob("*/metrics.json"))
    assert len(finished) == 2
    assert "trainer.learning_rate=-1.0 is invalid" in result.stdout + result.stderr


def test_hparams_are_in_each_runs_event_files(grid):
    sweep, _ = grid
    inversions = {}
    for metrics_file in sweep.glob("*/metrics.json"):
        run_dir = metrics_file.parent
        hyperparameters, scalars = hparams_of(run_dir)
        assert hyperparameters["trainer.learning_rate"] == pytest.approx(0.001)
        assert hyperparameters["model.name"] == "mlp"
        overrides = list(OmegaConf.load(run_dir / ".hydra" / "overrides.yaml"))
        choice = next(o for o in overrides if o.startswith("augmentation="))
        inversions[choice] = hyperparameters["augmentation.invert_probability"]
        metrics = json.loads(metrics_file.read_text())
        assert scalars["test_accuracy"] == pytest.approx(metrics["test_accuracy"], rel=1e-6)
    # each job logged its own augmentation: none inverts no image, the article's half of them
    assert inversions == {"augmentation=none": 0.0, "augmentation=article": 0.5}


def test_report_tables_every_run_best_first_and_names_the_failures(grid, tmp_path):
    sweep, _ = grid
    result = run_cli("digits.report", str(sweep), "--csv", str(tmp_path / "r.csv"), "--plot",
                     str(tmp_path / "r.png"))
    assert result.returncode == 0, result.stderr[-2000:]
    table = (sweep / "report.md").read_text().splitlines()
    assert table[0].startswith("| run | augmentation | trainer.learning_rate |")
    assert len(table) == 2 + 4
    done = [line for line in table[2:] if line.endswith("| done |")]
    accuracies = [float(line.split("|")[4]) for line in done]
    assert len(done) == 2 and accuracies == sorted(accuracies, reverse=True)
    assert table[-1].endswith("| failed or unfinished |")
    failed = [line.split("|")[1].strip() for line in table[2:] if line not in done]
    assert f"failed or unfinished: {', '.join(failed)}" in result.stdout
    for line in done:  # each row shows its own run's metrics.json
        metrics = json.loads((sweep / line.split("|")[1].strip() / "metrics.json").read_text())
        assert float(line.split("|")[4]) == pytest.approx(metrics["val_accuracy"], abs=5e-5)
    best = done[0].split("|")[1].strip()
    assert f"best run by validation accuracy: {sweep / best} " in result.stdout
    assert (tmp_path / "r.csv").read_text().count("\n") == 5
    assert_png_drawn(tmp_path / "r.png", 900, 400, panels=(1, 2))  # a panel per swept key
    assert sweep_report.swept_keys(sweep_report.collect(sweep)) == ["augmentation", "trainer.learning_rate"]


def test_optuna_search_runs_its_trials_and_writes_the_best(tmp_path):
    need_plugin("hydra_plugins.hydra_optuna_sweeper")
    result = run_cli("digits.train", "-m", "hparams_search=mlp_optuna",
                     "hydra.sweeper.n_trials=2", *SMOKE, f"hydra.sweep.dir={tmp_path}",
                     timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list(tmp_path.glob("*/metrics.json"))) == 2
    best = (tmp_path / "optimization_results.yaml").read_text()
    assert "best_params:" in best and "trainer.learning_rate" in best and "best_value:" in best


@pytest.mark.parametrize("plugin, launcher", [
    ("hydra_plugins.hydra_joblib_launcher", ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]),
    # submitit_local starts each job as its own process, as joblib does: over ~30 s, so slow
    pytest.param("hydra_plugins.hydra_submitit_launcher", ["hydra/launcher=submitit_local",
                                                           "hydra.launcher.timeout_min=10"],
                 marks=pytest.mark.slow),
])
def test_launchers_run_every_job(tmp_path, plugin, launcher):
    need_plugin(plugin)
    result = run_cli("digits.train", "-m", "augmentation=none,article", *TINY, *launcher,
                     f"hydra.sweep.dir={tmp_path}", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.parent.name for p in tmp_path.glob("*/metrics.json")) == ["0", "1"]
