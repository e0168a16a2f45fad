"""Run folders: never written over, never shared by two live runs, and writable before we start."""

from __future__ import annotations

import fcntl
import sys
from contextlib import contextmanager
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class RunFolderError(RuntimeError):
    """The run folder is in use by another run, or already holds a finished one."""


@contextmanager
def claim_run_folder(run_dir: Path):
    """Hold an exclusive lock on the run folder for the run's lifetime.

    The lock dies with the process (even on SIGKILL), so a killed run's folder can be reused,
    while two live runs, or a finished run, are never written over.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    if (run_dir / "metrics.json").exists():
        raise RunFolderError(f"{run_dir} already holds a finished run; choose another folder "
                             "(hydra.run.dir=DIR) or delete it")
    with open(run_dir / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunFolderError(f"{run_dir} is in use by another run") from None
        yield


def check_writable(folder: Path) -> None:
    """Exit with one line (not Hydra's traceback) if `folder` cannot be created and written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        print(f"digits-train: cannot write the run folder {folder}: {error}", file=sys.stderr)
        sys.exit(1)


class CheckRunFolder(Callback):
    """Hydra callback: runs before Hydra creates the run (or sweep) folder itself."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        check_writable(Path(config.hydra.run.dir))

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        check_writable(Path(config.hydra.sweep.dir))
