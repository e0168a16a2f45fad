"""SIGKILL a short real run at random instants, some inside file writes, and run the same command
again until it finishes: the result must equal an uninterrupted run's with the same seed.

`pytest -m slow tests/test_kill_anywhere.py -s` runs the full version and prints its counts.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from digits.utils.atomic import TEMPORARY_PREFIX

# Tiny data, several short epochs; augmentation and dropout on, so random draws must repeat;
# early stopping restores the best epoch's weights, so its counters must survive a resume.
RUN = ["data.train_size=600", "data.val_size=200", "data.test_size=200", "trainer.epochs=5",
       "trainer.verbose=0", "trainer.batch_size=32", "model.hidden_units=[32]",
       "model.dropout=0.2", "augmentation.invert_probability=0.3",
       "trainer.early_stopping.patience=2", "seed=3"]
WATCHED = ("", "backup", "checkpoints")  # folders where a run writes files it rewrites


@dataclass
class Tally:
    kills: int = 0
    kills_during_writes: int = 0
    runs_finished: int = 0
    runs_started: int = 0
    resumes: int = 0


def start(run_dir: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "digits.train", *RUN,
                             f"hydra.run.dir={run_dir}"],
                            stdout=open(run_dir.parent / "log", "a"), stderr=subprocess.STDOUT)


def partial_files(run_dir: Path) -> list[Path]:
    found = []
    for folder in WATCHED:
        try:
            found += [Path(entry.path) for entry in os.scandir(run_dir / folder)
                      if entry.name.startswith(TEMPORARY_PREFIX)]
        except FileNotFoundError:
            pass
    return found


def wait_then_kill(process: subprocess.Popen, run_dir: Path, kill: tuple, timeout: float) -> None:
    """SIGKILL the process when `kill` says: ("time", seconds) after its start; ("write", n) as
    the n-th (from 0) file write it starts is seen (a temporary file appears; short writes are
    missed, so the kill may come later); ("epochs", n) at the first write seen once n epochs
    are backed up."""
    kind, value = kill
    deadline = time.monotonic() + (value if kind == "time" else timeout)
    seen = set(partial_files(run_dir))  # left by earlier kills
    writes = 0
    while process.poll() is None and time.monotonic() < deadline:
        if kind == "epochs" and not (run_dir / "backup" / f"epoch-{value}.json").exists():
            time.sleep(0.01)
            continue
        now = set(partial_files(run_dir))
        writes += len(now - seen)
        if kind != "time" and writes > (value if kind == "write" else 0):
            break
        seen = now
        time.sleep(0.0002)
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)


def run_with_kills(run_dir: Path, kills: list[tuple], tally: Tally, run_seconds: float) -> None:
    """One SIGKILL per entry of `kills` (see wait_then_kill), each followed by the same command,
    the last one run until it finishes. A kill counts as during a write when it left a temporary
    file behind (the write never reached its rename)."""
    run_dir.mkdir(parents=True)
    for kill in kills:
        before = set(partial_files(run_dir))
        process = start(run_dir)
        tally.runs_started += 1
        wait_then_kill(process, run_dir, kill, timeout=run_seconds * 2)
        process.wait()
        if process.returncode == 0:
            tally.runs_finished += 1
            return  # finished before the kill: nothing left to test in this folder
        assert process.returncode == -signal.SIGKILL, log_end(run_dir)
        tally.kills += 1
        tally.kills_during_writes += bool(set(partial_files(run_dir)) - before)
        if (run_dir / "metrics.json").exists():  # killed after writing its last result
            tally.runs_finished += 1
            return
    process = start(run_dir)
    tally.runs_started += 1
    assert process.wait(timeout=600) == 0, log_end(run_dir)
    tally.runs_finished += 1
    tally.resumes += resumes(run_dir)


def log_end(run_dir: Path) -> str:
    return (run_dir.parent / "log").read_text()[-3000:]


def resumes(run_dir: Path) -> int:
    """How many starts went on from a backed-up epoch (train.log gathers every start's log)."""
    return (run_dir / "train.log").read_text().count("resuming:")


def history_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "history.csv") as file:
        return list(csv.DictReader(file))


def results(run_dir: Path) -> tuple[list[dict], dict]:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics.pop("train_seconds")
    return history_rows(run_dir), metrics


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[Path, float]:
    run_dir = tmp_path_factory.mktemp("kill") / "uninterrupted"
    run_dir.mkdir()
    began = time.monotonic()
    assert start(run_dir).wait(timeout=600) == 0, (run_dir.parent / "log").read_text()[-3000:]
    return run_dir, time.monotonic() - began


def check_same_as(uninterrupted_dir: Path, run_dir: Path) -> None:
    rows, metrics = results(run_dir)
    assert [int(row["epoch"]) for row in rows] == list(range(len(rows)))  # each epoch once
    expected_rows, expected_metrics = results(uninterrupted_dir)
    assert rows == expected_rows
    assert metrics == expected_metrics


def test_three_kills_then_the_run_equals_an_uninterrupted_one(uninterrupted, tmp_path):
    reference, seconds = uninterrupted
    tally = Tally()
    # At a write once two epochs are backed up, at a random instant early in the next start
    # (often before its first epoch ends), and at its next start's first write seen.
    kills = [("epochs", 2), ("time", random.Random(0).uniform(0, seconds / 3)), ("write", 0)]
    run_with_kills(tmp_path / "run", kills, tally, seconds)
    check_same_as(reference, tmp_path / "run")
    assert tally.kills == 3 and tally.runs_finished == 1 and tally.resumes >= 1


@pytest.mark.slow  # about 40 training processes
def test_thirty_kills_ten_of_them_mid_write(uninterrupted, tmp_path):
    reference, seconds = uninterrupted
    tally, folder = Tally(), 0
    while tally.kills < 30 or tally.kills_during_writes < 10:
        folder += 1
        chance = random.Random(folder)
        kills = [[("write", chance.randrange(12)), ("time", chance.uniform(0, seconds)),
                  ("epochs", chance.randrange(1, 5))][kill % 3] for kill in range(6)]
        run_with_kills(tmp_path / f"run{folder}", kills, tally, seconds)
        check_same_as(reference, tmp_path / f"run{folder}")
        assert folder < 20, f"too few kills landed: {tally}"
    print(f"\nkill-anywhere: {tally.kills} kills, {tally.kills_during_writes} during a file "
          f"write, {tally.resumes} resumes, {tally.runs_finished} runs finished in {folder} "
          f"folders ({tally.runs_started} processes started), every one equal to the "
          "uninterrupted run")
