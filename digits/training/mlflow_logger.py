"""logger=mlflow: one MLflow run per training run, through MLflow's own client (MlflowClient).

The run is opened before any data loads, so a tracking server that cannot be reached stops the
run at once (MlflowUnreachable). It gets the flattened config as parameters, tags naming the
experiment, data and model options, every epoch's metrics, and at the end metrics.json's numbers,
the figures, metrics.json, history.csv and model.keras as artifacts. Without a tracking URI the
store is local: OUTPUT/mlflow/mlflow.db (SQLite), artifacts in OUTPUT/mlflow/artifacts. All jobs
of a multirun log to one MLflow experiment, named after the sweep folder.

MLflow is an optional extra: pip install "digits[mlflow]".
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Mapping

import keras

from digits.config.run_options import MlflowConfig
from digits.runs import hparams

try:  # the optional extra: only logger=mlflow needs it
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param
    from mlflow.exceptions import MlflowException
except ImportError:
    MlflowClient = None

log = logging.getLogger(__name__)

SINGLE_RUN_EXPERIMENT = "digits-train"
BATCH_LIMIT = 100  # parameters per log_batch call (MLflow's own limit)
PARAM_VALUE_LIMIT = 6000  # characters of a parameter's value (MLflow's own limit)
ARTIFACT_FILES = ("model.keras", "metrics.json", "history.csv")
ARTIFACT_FOLDERS = ("plots",)


class MlflowUnreachable(RuntimeError):
    """logger=mlflow cannot be used: MLflow is not installed or its store cannot be reached."""


def local_store(output: Path) -> tuple[str, str]:
    """(tracking URI, artifact folder) of the local store in the output folder."""
    folder = output.absolute() / "mlflow"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}", str(folder / "artifacts")


def flattened(cfg: Any) -> dict[str, str]:
    """A config's dataclasses -> {"trainer.learning_rate": "0.001", ...} (MLflow's parameters)."""
    return {key: str(value)[:PARAM_VALUE_LIMIT] for key, value in hparams.flatten(cfg).items()}


@contextmanager
def fail_fast(timeout: int):
    """MLflow's HTTP requests without retries and with a short timeout (its own environment
    variables, read at each request), so an unreachable server is reported in seconds."""
    wanted = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": str(timeout)}
    previous = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class MlflowRun:
    """One MLflow run, opened by `start`."""

    def __init__(self, client, run_id: str):
        self.client, self.run_id = client, run_id

    def log_metrics(self, values: Mapping[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        metrics = [Metric(key, float(value), now, step) for key, value in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, run_dir: Path, metrics: Mapping[str, Any]) -> None:
        """The run's final numbers and files, then the run marked finished."""
        numbers = {key: value for key, value in metrics.items()
                   if isinstance(value, (int, float)) and not isinstance(value, bool)}
        self.log_metrics(numbers, step=int(metrics.get("epochs", 0)))
        for name in ARTIFACT_FILES:
            if (run_dir / name).is_file():
                self.client.log_artifact(self.run_id, str(run_dir / name))
        for name in ARTIFACT_FOLDERS:
            if (run_dir / name).is_dir():
                self.client.log_artifacts(self.run_id, str(run_dir / name), name)
        self.client.set_terminated(self.run_id, "FINISHED")

    def end(self, status: str) -> None:
        """Mark an unfinished run FAILED or KILLED; a store gone meanwhile is only reported."""
        try:
            self.client.set_terminated(self.run_id, status)
        except MlflowException as error:
            log.warning("MLflow: could not mark the run %s: %s", status, first_line(error))


def first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def start(cfg: MlflowConfig, output: Path, run_dir: Path, params: Mapping[str, str],
          tags: Mapping[str, str], sweep_dir: Path | None) -> MlflowRun:
    """Open the MLflow run of a training run (raises MlflowUnreachable)."""
    if MlflowClient is None:
        raise MlflowUnreachable('logger=mlflow needs MLflow: pip install "digits[mlflow]"')
    if cfg.tracking_uri:
        uri, artifacts = cfg.tracking_uri, None
    else:
        uri, artifacts = local_store(output)
    name = cfg.experiment_name or (str(sweep_dir) if sweep_dir else SINGLE_RUN_EXPERIMENT)
    client = MlflowClient(tracking_uri=uri)
    try:
        with fail_fast(cfg.connect_timeout):
            experiment_id = experiment(client, name, artifacts)
            run = client.create_run(experiment_id, tags=dict(tags), run_name=run_dir.name)
            items = list(params.items())
            for first in range(0, len(items), BATCH_LIMIT):
                client.log_batch(run.info.run_id, params=[
                    Param(key, value) for key, value in items[first:first + BATCH_LIMIT]])
    except (MlflowException, OSError) as error:  # requests' errors are OSErrors too
        raise MlflowUnreachable(f"logger.mlflow.tracking_uri={uri} cannot be used, so nothing "
                                f"was trained: {first_line(error)}") from None
    log.info("MLflow: run %s in experiment %r at %s", run.info.run_id, name, uri)
    return MlflowRun(client, run.info.run_id)


def experiment(client, name: str, artifacts: str | None) -> str:
    """The id of experiment `name`, created if need be (by this job or, at the same moment, by
    another job of the multirun)."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifacts)
    except MlflowException:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


class EpochMetrics(keras.callbacks.Callback):
    """Every epoch's logs (loss, accuracy, validation values) as MLflow metrics, step = epoch.
    A store that fails mid-run is reported once; training goes on."""

    def __init__(self, run: MlflowRun):
        super().__init__()
        self.run = run
        self.failed = False

    def on_epoch_end(self, epoch, logs=None):
        if not logs or self.failed:
            return
        try:
            self.run.log_metrics({key: value for key, value in logs.items()
                                  if isinstance(value, (int, float))}, step=epoch)
        except (MlflowException, OSError) as error:
            self.failed = True
            log.warning("MLflow: epoch metrics are no longer logged: %s", first_line(error))


def tag_values(choices: Mapping[str, Any]) -> dict[str, str]:
    """Tags of a run from Hydra's group choices: the experiment, data and model options."""
    return {group: str(choices.get(group) or "none") for group in ("experiment", "data", "model")}
