"""The backup that lets a killed run go on where it was, as if it had never stopped.

After every finished epoch N the run writes backup/epoch-N.weights.h5 (model and optimiser, EMA
included) and then backup/epoch-N.json (the epoch and the counters of early stopping, the plateau
schedule and the best checkpoint), each atomically (digits.utils.atomic). A state counts once its JSON
exists, so a kill at any instant leaves the previous state whole; the previous state and the best
epoch's weights are kept until a newer state is complete. On resume the newest state that reads
back whole is used; a damaged one is reported in one log line and an older one is used.

Keras' BackupAndRestore is not used: it rewrites its one weights file in place (a kill mid-write
leaves a truncated file and no way on) and keeps no callback counters, so early stopping would
forget the epochs before a resume.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import keras

from digits.utils import atomic

log = logging.getLogger(__name__)

BACKUP_DIR = "backup"
STATE = re.compile(r"epoch-(\d+)\.json")
# Counters of Keras' callbacks a resumed run must carry on with (reset by their on_train_begin).
COUNTERS = {keras.callbacks.EarlyStopping: ("wait", "best", "best_epoch", "stopped_epoch"),
            keras.callbacks.ReduceLROnPlateau: ("wait", "best", "cooldown_counter"),
            keras.callbacks.ModelCheckpoint: ("best",)}


@dataclass
class State:
    epoch: int  # epochs finished
    weights: Path  # model and optimiser after that epoch
    stopped: bool  # early stopping ended training after that epoch
    counters: dict  # callback class name -> {attribute: value}
    best_epoch: int | None  # 0-based epoch whose weights are the best so far (checkpoint monitor)


def weights_file(folder: Path, epochs: int) -> Path:
    return folder / f"epoch-{epochs}.weights.h5"


def check_weights(path: Path) -> None:
    """Raise OSError/KeyError unless every array of the HDF5 file reads back."""
    with h5py.File(path, "r") as file:
        file.visititems(lambda name, item: item[()] if isinstance(item, h5py.Dataset) else None)


def check_model_file(path: Path) -> None:
    """Raise unless the .keras archive is whole (every member's CRC checks)."""
    with zipfile.ZipFile(path) as archive:
        damaged = archive.testzip()
    if damaged is not None:
        raise zipfile.BadZipFile(f"{damaged} is damaged")


def read_state(folder: Path, epochs: int) -> State:
    values = json.loads((folder / f"epoch-{epochs}.json").read_text())
    weights = weights_file(folder, epochs)
    check_weights(weights)
    best = values["best_epoch"]
    if best is not None:
        check_weights(weights_file(folder, best + 1))
    return State(values["epoch"], weights, values["stopped"], values["counters"], best)


def last_good_state(run_dir: Path) -> State | None:
    """The newest backed-up state that reads back whole, or None for a new run."""
    folder = run_dir / BACKUP_DIR
    found = sorted((int(match.group(1)) for path in folder.glob("epoch-*.json")
                    if (match := STATE.fullmatch(path.name))), reverse=True)
    for epochs in found:
        try:
            return read_state(folder, epochs)
        except (OSError, ValueError, KeyError, TypeError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            log.warning("the backup after epoch %d in %s is damaged (%s): going on from the "
                        "one before", epochs, folder, reason)
    return None


def backed_up_epochs(run_dir: Path) -> int:
    """How many epochs a killed run in `run_dir` had finished (0 for a new run)."""
    state = last_good_state(run_dir)
    return state.epoch if state else 0


def remove(run_dir: Path) -> None:
    """Once the run's results are written, its backup is no longer needed."""
    shutil.rmtree(run_dir / BACKUP_DIR, ignore_errors=True)


def _plain(value):
    """A callback counter as JSON (numpy scalars and tensors to float/int)."""
    if value is None or isinstance(value, (bool, int)):
        return value
    return float(value)


class Backup(keras.callbacks.Callback):
    """Writes a state after every epoch and, given `resume`, restores one before training.

    Must come last among the callbacks: its on_train_begin restores counters after the others
    reset them, and its on_epoch_end records what the others did in that epoch.
    """

    def __init__(self, run_dir: Path, resume: State | None, callbacks: list,
                 checkpoint: keras.callbacks.ModelCheckpoint):
        super().__init__()
        self.folder = run_dir / BACKUP_DIR
        self.resume = resume
        self.tracked = [callback for callback in callbacks
                        if any(isinstance(callback, kind) for kind in COUNTERS)]
        self.checkpoint = checkpoint
        self.best_epoch = resume.best_epoch if resume else None
        self.best_before_epoch = None

    def counters(self, callback) -> tuple[str, tuple]:
        kind = next(kind for kind in COUNTERS if isinstance(callback, kind))
        return kind.__name__, COUNTERS[kind]

    def on_train_begin(self, logs=None):
        if self.resume is None:
            return
        if not self.model.optimizer.built:  # its variables must exist before they are loaded
            self.model.optimizer.build(self.model.trainable_variables)
        best = (weights_file(self.folder, self.best_epoch + 1)
                if self.best_epoch is not None else None)
        if best is not None:
            self.model.load_weights(best)
            for callback in self.tracked:
                if getattr(callback, "restore_best_weights", False):
                    callback.best_weights = self.model.get_weights()
            self.repair_checkpoint()
        self.model.load_weights(self.resume.weights)
        for callback in self.tracked:
            name, attributes = self.counters(callback)
            for attribute in attributes:
                if attribute in self.resume.counters.get(name, {}):
                    setattr(callback, attribute, self.resume.counters[name][attribute])

    def repair_checkpoint(self):
        """The best checkpoint holds the weights just loaded; rewrite it if it does not read."""
        # digits' checkpoint writes to a temporary name and renames it to final_path
        path = Path(getattr(self.checkpoint, "final_path", self.checkpoint.filepath))
        try:
            check_model_file(path)
        except (OSError, zipfile.BadZipFile) as error:
            log.warning("%s is damaged (%s): writing it again from the backup of epoch %d",
                        path, str(error).splitlines()[0] if str(error) else "unreadable",
                        self.best_epoch)
            atomic.save_model(self.model, path)

    def on_epoch_begin(self, epoch, logs=None):
        self.best_before_epoch = self.checkpoint.best

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            return  # a diverged epoch is never a state to go on from
        if self.checkpoint.best != self.best_before_epoch:
            self.best_epoch = epoch
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic.replacing(weights_file(self.folder, epoch + 1)) as temporary:
            self.model.save_weights(temporary)
        counters = {}
        for callback in self.tracked:
            name, attributes = self.counters(callback)
            counters[name] = {attribute: _plain(getattr(callback, attribute, None))
                              for attribute in attributes}
        state = {"epoch": epoch + 1, "stopped": bool(self.model.stop_training),
                 "counters": counters, "best_epoch": self.best_epoch}
        atomic.write_text(self.folder / f"epoch-{epoch + 1}.json", json.dumps(state, indent=1))
        self.remove_old_states(keep={epoch + 1, epoch, (self.best_epoch or 0) + 1})

    def remove_old_states(self, keep: set[int]) -> None:
        for path in self.folder.glob("epoch-*"):
            number = int(path.name.split(".", 1)[0].removeprefix("epoch-"))
            if number not in keep:
                if path.suffix == ".json":
                    path.unlink(missing_ok=True)  # the state goes first: no state without weights
        for path in self.folder.glob("epoch-*.weights.h5"):
            if int(path.name.split(".", 1)[0].removeprefix("epoch-")) not in keep:
                path.unlink(missing_ok=True)
