"""The logger group at training time: the callbacks that record each epoch (TensorBoard, Keras'
CSVLogger, MLflow) and the MLflow run around the whole training run.

    with loggers.open_loggers(cfg, run_dir, choices, sweep_dir) as run_loggers:
        metrics = run_training(cfg, run_dir, run_loggers.callbacks())
        run_loggers.finish(metrics)

debug=profile adds a profiler trace to the TensorBoard logger (on even without logger=tensorboard):
RUN/tensorboard/train/plugins/profile/.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

import keras

from digits.config.run_options import DebugMode
from digits.config.schemas import TrainConfig
from digits.training import mlflow_logger

TENSORBOARD_DIR = "tensorboard"
CSV_FILE = Path("logs") / "metrics.csv"


def tensorboard(run_dir: Path, profile_steps: list[int] | None = None) -> keras.callbacks.Callback:
    # Append-only: after a resume an epoch's step may appear twice, never go missing.
    return keras.callbacks.TensorBoard(log_dir=str(run_dir / TENSORBOARD_DIR), update_freq="epoch",
                                       write_graph=False,
                                       profile_batch=tuple(profile_steps) if profile_steps else 0)


class RunLoggers:
    """The loggers a config chose, for one run."""

    def __init__(self, cfg: TrainConfig, run_dir: Path,
                 mlflow_run: mlflow_logger.MlflowRun | None = None):
        self.cfg, self.run_dir, self.mlflow_run = cfg, run_dir, mlflow_run

    def callbacks(self) -> list[keras.callbacks.Callback]:
        chosen = []
        profiling = self.cfg.debug is not None and self.cfg.debug.mode is DebugMode.profile
        if self.cfg.logger.tensorboard or profiling:
            chosen.append(tensorboard(self.run_dir,
                                      self.cfg.debug.profile_steps if profiling else None))
        if self.cfg.logger.csv:
            (self.run_dir / CSV_FILE).parent.mkdir(parents=True, exist_ok=True)
            chosen.append(keras.callbacks.CSVLogger(str(self.run_dir / CSV_FILE), append=True))
        if self.mlflow_run is not None:
            chosen.append(mlflow_logger.EpochMetrics(self.mlflow_run))
        return chosen

    def finish(self, metrics: Mapping[str, Any]) -> None:
        if self.mlflow_run is not None:
            self.mlflow_run.finish(self.run_dir, metrics)


@contextmanager
def open_loggers(cfg: TrainConfig, run_dir: Path, choices: Mapping[str, Any],
                 sweep_dir: Path | None = None) -> Iterator[RunLoggers]:
    """The run's loggers; with logger=mlflow its MLflow run is opened first (raises
    mlflow_logger.MlflowUnreachable before anything trains) and, should the run not finish,
    marked FAILED (KILLED on Ctrl-C). `choices`: Hydra's group choices (the run's tags);
    `sweep_dir`: a multirun's folder, whose jobs share one MLflow experiment."""
    mlflow_run = None
    if cfg.logger.mlflow.enabled:
        mlflow_run = mlflow_logger.start(
            cfg.logger.mlflow, Path(cfg.paths.output), run_dir, mlflow_logger.flattened(cfg),
            {**mlflow_logger.tag_values(choices), "run_dir": str(run_dir.absolute())}, sweep_dir)
    try:
        yield RunLoggers(cfg, run_dir, mlflow_run)
    except KeyboardInterrupt:
        if mlflow_run is not None:
            mlflow_run.end("KILLED")
        raise
    except BaseException:
        if mlflow_run is not None:
            mlflow_run.end("FAILED")
        raise
