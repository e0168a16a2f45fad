"""What digits-train's Hydra app does around a run: the config a run to resume was started with,
and ending a failed run (the command's exit status in a single run; the other jobs of a multirun
go on)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from hydra import compose
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from digits.runs.run_folder import RunFolderError

log = logging.getLogger("digits.train")


def resumed_config(run_dir: Path) -> DictConfig:
    """The config a run in `run_dir` was started with, composed again from its saved overrides."""
    overrides = run_dir / ".hydra" / "overrides.yaml"
    if not overrides.is_file():
        raise RunFolderError(f"cannot resume {run_dir}: it is not a run folder "
                             "(no .hydra/overrides.yaml)")
    return compose("train", overrides=list(OmegaConf.load(overrides)))


def stop(message: str, status: int) -> float:
    """End a failed run: in a single run exit with `status`; in a multirun let the other jobs go
    on (the job's folder has no metrics.json, which digits-report lists as failed)."""
    log.error("%s", message)
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        return float("nan")
    sys.exit(status)


def sweep_folder() -> Path | None:
    """A multirun's folder (its jobs share one MLflow experiment); None for a single run."""
    hydra_cfg = HydraConfig.get()
    return Path(hydra_cfg.sweep.dir) if hydra_cfg.mode == RunMode.MULTIRUN else None
