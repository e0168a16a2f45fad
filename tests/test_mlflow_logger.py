"""logger=mlflow, read back with MLflow's own client: a 4-job multirun is one experiment of 4
runs, each with the flattened config, per-epoch metrics, tags and artifacts; an unreachable
tracking server stops the run before anything trains (exit 2, one line), its folder kept."""

import json
import os
import shlex

import pytest

from helpers import SMOKE, compose_train, run_cli
from digits.training import train_digits
from digits.runs import trial_command
from digits.training import loggers

try:
    import mlflow
except ImportError:  # CI installs the mlflow extra with the test extra: there it must be found
    if os.environ.get("CI"):
        raise
    pytest.skip('MLflow is missing: pip install "digits[mlflow]" (never skipped in CI)',
                allow_module_level=True)

TINY = [*SMOKE, "trainer.epochs=2", "trainer.early_stopping.enabled=false",
        "model.hidden_units=[32]"]


def read_back(client, run, run_dir, download_to):
    """Check one MLflow run against its run folder."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert run.info.status == "FINISHED"
    assert run.data.params["model.hidden_units"] == "[32]"
    assert run.data.params["trainer.optimizer"] == "adam"
    assert run.data.tags["experiment"] == "none" and run.data.tags["data"] == "mnist"
    assert run.data.tags["model"] == "mlp" and run.data.tags["run_dir"] == str(run_dir)
    history = client.get_metric_history(run.info.run_id, "val_accuracy")
    assert [point.step for point in history[:2]] == [0, 1]
    assert run.data.metrics["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {"model.keras", "metrics.json", "history.csv", "plots"} <= artifacts
    downloaded = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="model.keras", dst_path=str(download_to),
        tracking_uri=client._tracking_client.tracking_uri)
    assert open(downloaded, "rb").read() == (run_dir / "model.keras").read_bytes()


def test_a_run_is_read_back_with_mlflows_client(tmp_path):
    cfg = compose_train(["logger=mlflow", *TINY, f"paths.output={tmp_path}/out"])
    run_dir = tmp_path / "run"
    choices = {"data": "mnist", "model": "mlp", "experiment": None}
    with loggers.open_loggers(cfg, run_dir, choices) as run_loggers:
        run_loggers.finish(train_digits.run_training(cfg, run_dir, run_loggers.callbacks()))
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/out/mlflow/mlflow.db")
    experiment = client.get_experiment_by_name("digits-train")
    [run] = client.search_runs([experiment.experiment_id])
    read_back(client, run, run_dir, tmp_path / "downloaded")
    assert not list(run_dir.rglob("events.out.tfevents.*train*"))  # logger=mlflow alone


@pytest.fixture(scope="module")
def multirun(tmp_path_factory):
    """Four jobs (two seeds, two learning rates) logged to the local store under paths.output."""
    root = tmp_path_factory.mktemp("mlflow")
    result = run_cli("digits.train", "-m", "logger=[tensorboard,mlflow]", "seed=1,2",
                     "trainer.learning_rate=0.001,0.003", *TINY, f"paths.output={root}/out",
                     f"hydra.sweep.dir={root}/sweep", timeout=600, cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{root}/out/mlflow/mlflow.db")
    return root, client


@pytest.mark.slow  # four jobs: about a minute on 2 cores
def test_a_multirun_is_one_experiment_with_a_run_per_job(multirun):
    root, client = multirun
    experiment = client.get_experiment_by_name(str(root / "sweep"))
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 4 and {run.info.status for run in runs} == {"FINISHED"}
    assert sorted(run.info.run_name for run in runs) == ["0", "1", "2", "3"]
    assert {(run.data.params["seed"], run.data.params["trainer.learning_rate"]) for run in runs} \
        == {("1", "0.001"), ("2", "0.001"), ("1", "0.003"), ("2", "0.003")}


@pytest.mark.slow
def test_each_job_has_its_config_metrics_per_epoch_tags_and_artifacts(multirun):
    root, client = multirun
    experiment = client.get_experiment_by_name(str(root / "sweep"))
    for run in client.search_runs([experiment.experiment_id]):
        read_back(client, run, root / "sweep" / run.info.run_name, root / "downloaded")
    assert list((root / "sweep" / "0" / "tensorboard").rglob("events.out.tfevents.*"))


@pytest.mark.slow
def test_a_jobs_command_trains_it_again_as_a_single_run(multirun):
    root, _ = multirun
    words = shlex.split(trial_command.command(root / "sweep" / "3"))
    assert words[:2] == ["digits-train", "logger=[tensorboard,mlflow]"]
    assert {"seed=2", "trainer.learning_rate=0.003", "model.hidden_units=[32]"} <= set(words)


def test_an_unreachable_server_stops_the_run_before_training_in_one_line(tmp_path):
    result = run_cli("digits.train", "logger=mlflow", "logger.mlflow.tracking_uri=http://127.0.0.1:9",
                     "logger.mlflow.connect_timeout=2", *TINY, f"paths.output={tmp_path}/runs",
                     cwd=tmp_path)
    assert result.returncode == 2
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(errors) == 1, errors
    assert "logger.mlflow.tracking_uri=http://127.0.0.1:9 cannot be used, so nothing was " \
           "trained" in errors[0]
    run_dirs = list((tmp_path / "runs").glob("*/*"))
    assert len(run_dirs) == 1 and (run_dirs[0] / ".hydra" / "config.yaml").is_file()
    assert not (run_dirs[0] / "history.csv").exists() and not (run_dirs[0] / "checkpoints").exists()
