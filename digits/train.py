"""Training entry point: `digits-train [overrides]` (or `python -m digits.train`).

compose (Hydra) -> data -> pipeline -> model -> fit -> evaluate -> artefacts in the run folder.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, MissingMandatoryValue

from digits import cli
from digits.config import schemas
from digits.data import datasets
from digits.models import model_files
from digits.runs.run_folder import RunFolderError, claim_run_folder
from digits.training import train_digits
from digits.training import train_numbers
from digits.training import debug_modes, loggers, mlflow_logger
from digits.training import trainer
from digits.training.hydra_run import resumed_config, stop, sweep_folder
from digits.config import run_options
from digits.utils import keras_compat

log = logging.getLogger("digits.train")
schemas.register_configs()


@hydra.main(version_base="1.3", config_path="pkg://digits.conf", config_name="train")
def main(cfg: DictConfig) -> float:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    for warning in schemas.renamed_option_warnings(HydraConfig.get().runtime.choices):
        log.warning(warning)
    try:
        if cfg.resume:
            run_dir = Path(cfg.resume)
            cfg = resumed_config(run_dir)
        train_cfg = schemas.to_objects(cfg)
        numbers = isinstance(train_cfg.data, schemas.NumbersDataConfig)
        if train_cfg.paths.cache:  # read where the data modules look: $DIGITS_CACHE
            os.environ[run_options.CACHE_VARIABLE] = str(train_cfg.paths.cache_folder())
        with loggers.open_loggers(train_cfg, run_dir, HydraConfig.get().runtime.choices,
                                  sweep_folder()) as run_loggers, claim_run_folder(run_dir):
            metrics = (train_numbers.run_training if numbers else train_digits.run_training)(
                train_cfg, run_dir, run_loggers.callbacks())
            run_loggers.finish(metrics)
    except (schemas.ConfigError, datasets.DataError, RunFolderError, model_files.ModelLoadError,
            keras_compat.KerasVersionError, mlflow_logger.MlflowUnreachable) as error:
        return stop(str(error), cli.USAGE)
    except MissingMandatoryValue as error:  # a group removed from the command, e.g. ~data
        return stop(f"{error.full_key} is required: add {error.full_key}=... to the command",
                    cli.USAGE)
    except (trainer.TrainingDiverged, debug_modes.OverfitFailed) as error:
        return stop(str(error), cli.DIVERGED)
    except KeyboardInterrupt:
        log.error("interrupted: every finished epoch is saved; to go on from the last one, run "
                  "digits-train resume=%s (or this command with hydra.run.dir=%s)", run_dir,
                  run_dir)
        sys.exit(cli.INTERRUPTED)
    except OSError as error:  # unwritable folder, full disk
        return stop(f"cannot write the run's files in {run_dir}: {error}", cli.FAILED)
    if numbers:
        log.info("test exact-number accuracy %.4f (CER %.4f), %d epochs, %.0f s",
                 metrics["test_exact_accuracy"], metrics["test_cer"], metrics["epochs"],
                 metrics["train_seconds"])
        print(f"Run folder: {run_dir}")
        return metrics[train_cfg.optimized_metric]
    if "initial_test_accuracy" in metrics:
        log.info("test accuracy before training %.4f", metrics["initial_test_accuracy"])
    log.info("test accuracy %.4f (inverted %.4f), %d epochs, %.0f s", metrics["test_accuracy"],
             metrics["inverted_test_accuracy"], metrics["epochs"], metrics["train_seconds"])
    print(f"Run folder: {run_dir}")
    return metrics[train_cfg.optimized_metric]


if __name__ == "__main__":
    main()
