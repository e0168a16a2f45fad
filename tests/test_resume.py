"""Runs survive SIGKILL, NaNs, Ctrl-C and unwritable folders."""

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import SMOKE, run_cli
from digits.runs import backup
from digits.models import model_files
from digits.training import trainer

RESUMABLE = ["data.train_size=1000", "data.val_size=300", "data.test_size=300",
             "trainer.epochs=6", "trainer.early_stopping.enabled=false", "trainer.verbose=2",
             "model.hidden_units=[32]"]


def epochs_backed_up(run_dir):
    return backup.backed_up_epochs(run_dir)


def start_training(*args):
    return subprocess.Popen([sys.executable, "-m", "digits.train", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_epochs(process, run_dir, epochs, timeout=240):
    deadline = time.time() + timeout
    while epochs_backed_up(run_dir) < epochs:
        assert process.poll() is None, process.communicate()[1][-2000:]
        assert time.time() < deadline, "training too slow"
        time.sleep(0.05)


def history_epochs(run_dir):
    with open(run_dir / "history.csv") as file:
        return [int(row["epoch"]) for row in csv.DictReader(file)]


def test_sigkill_after_two_epochs_then_the_same_command_goes_on(tmp_path):
    run_dir = tmp_path / "run"
    args = [*RESUMABLE, f"hydra.run.dir={run_dir}"]
    process = start_training(*args)
    wait_for_epochs(process, run_dir, 2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run_dir / "metrics.json").exists()
    done = epochs_backed_up(run_dir)
    assert done >= 2

    result = run_cli("digits.train", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming: {done} of 6 epochs were finished before" in result.stdout + result.stderr
    assert f"Epoch {done + 1}/6" in result.stdout and "Epoch 1/6" not in result.stdout
    assert history_epochs(run_dir) == [0, 1, 2, 3, 4, 5]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs"] == 6
    assert not (run_dir / "backup").exists()  # removed once training finished
    # The optimiser's state came back too: its step count (which drives any schedule) went on.
    assert int(model_files.load(run_dir).optimizer.iterations) == 6 * math.ceil(1000 / 32)


def test_a_damaged_backup_and_checkpoint_are_reported_and_the_run_goes_on(tmp_path):
    run_dir = tmp_path / "run"
    args = [*RESUMABLE, f"hydra.run.dir={run_dir}"]
    process = start_training(*args)
    wait_for_epochs(process, run_dir, 3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = epochs_backed_up(run_dir)
    newest = run_dir / "backup" / f"epoch-{done}.weights.h5"
    newest.write_bytes(newest.read_bytes()[:1000])  # as a disk error might leave it
    best = run_dir / "checkpoints" / "best.keras"
    best.write_bytes(best.read_bytes()[:1000])

    result = run_cli("digits.train", *args)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert f"the backup after epoch {done} in {run_dir / 'backup'} is damaged" in output
    assert f"resuming: {done - 1} of 6 epochs were finished before" in output
    assert f"{best} is damaged" in output and "cannot write the run's files" not in output
    assert history_epochs(run_dir) == [0, 1, 2, 3, 4, 5]
    assert model_files.load(best).count_params() > 0


def test_resume_option_restarts_a_run_from_its_saved_config(tmp_path):
    run_dir = tmp_path / "run"
    process = start_training(*RESUMABLE, "trainer.epochs=3", f"hydra.run.dir={run_dir}")
    wait_for_epochs(process, run_dir, 1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    saved_config = (run_dir / ".hydra" / "config.yaml").read_text()

    result = run_cli("digits.train", f"resume={run_dir}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert history_epochs(run_dir) == [0, 1, 2]
    assert (run_dir / ".hydra" / "config.yaml").read_text() == saved_config
    assert not (tmp_path / "outputs").exists()
    again = run_cli("digits.train", f"resume={run_dir}", cwd=tmp_path)
    assert again.returncode == 2 and "already holds a finished run" in again.stdout + again.stderr


def test_ctrl_c_ends_cleanly_and_the_run_can_go_on(tmp_path):
    run_dir = tmp_path / "run"
    # Epochs take well under a second: enough of them that the run cannot finish first.
    args = [*RESUMABLE, "trainer.epochs=12", f"hydra.run.dir={run_dir}"]
    process = start_training(*args)
    wait_for_epochs(process, run_dir, 1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted" in stdout + stderr and "Traceback" not in stderr
    assert epochs_backed_up(run_dir) >= 1
    result = run_cli("digits.train", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert history_epochs(run_dir) == list(range(12))


def test_a_diverging_run_stops_at_the_first_nan_and_keeps_its_last_good_model(tmp_path):
    run_dir = tmp_path / "run"
    # Two good epochs, killed; then the run goes on with a learning rate that blows it up.
    process = start_training(*RESUMABLE, f"hydra.run.dir={run_dir}")
    wait_for_epochs(process, run_dir, 2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    best = run_dir / "checkpoints" / "best.keras"
    good = best.read_bytes()
    result = run_cli("digits.train", *RESUMABLE, "trainer.optimizer=sgd",
                     "trainer.learning_rate=1e6", f"hydra.run.dir={run_dir}")
    output = result.stdout + result.stderr
    assert result.returncode == 3
    assert "Invalid loss, terminating training" in output
    assert "the loss became nan in epoch" in output and f"kept in {best}" in output
    assert "Try a lower trainer.learning_rate" in output and "Traceback" not in output
    assert not (run_dir / "metrics.json").exists() and not (run_dir / "model.keras").exists()
    assert best.read_bytes() == good
    assert model_files.load(best).count_params() > 0


def test_a_run_diverging_in_its_first_epoch_keeps_no_broken_checkpoint(tmp_path):
    # Plain ModelCheckpoint saves the first epoch whatever its loss: best.keras would hold NaNs.
    result = run_cli("digits.train", *SMOKE, "trainer.epochs=3", "trainer.optimizer=sgd",
                     "trainer.learning_rate=1e6", f"hydra.run.dir={tmp_path}")
    output = result.stdout + result.stderr
    assert result.returncode == 3, output[-3000:]
    assert "the loss became nan in epoch 0" in output
    assert "there is no good model to keep" in output and "Traceback" not in output
    assert not (tmp_path / "checkpoints" / "best.keras").exists()


def test_an_unwritable_run_folder_is_a_clear_error(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "plots").write_text("a file where the plots folder should go")
    result = run_cli("digits.train", *SMOKE, f"hydra.run.dir={run_dir}")
    assert result.returncode == 1
    assert "cannot write the run's files" in result.stdout + result.stderr and "Traceback" not in result.stdout + result.stderr


def test_an_unwritable_run_location_is_one_clear_line(tmp_path):
    (tmp_path / "file").write_text("")
    result = run_cli("digits.train", "trainer=smoke", f"hydra.run.dir={tmp_path}/file/run")
    assert result.returncode == 1
    assert "cannot write the run folder" in result.stderr and "Traceback" not in result.stderr


def test_a_full_disk_is_a_clear_error(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "plots").mkdir()
    # Files are written under a temporary name, then renamed: the disk fills as that is written.
    (run_dir / "plots" / ".partial-curves.png").symlink_to("/dev/full")  # writes fail: ENOSPC
    result = run_cli("digits.train", *SMOKE, f"hydra.run.dir={run_dir}")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-2000:]
    assert "No space left on device" in output and "Traceback" not in output


def test_a_ctrl_c_whose_exception_was_dropped_still_stops_training_at_the_next_batch():
    before = signal.getsignal(signal.SIGINT)
    with trainer.ctrl_c_cannot_be_lost() as interrupt:
        interrupt.on_train_batch_end(0)  # no Ctrl-C: training goes on
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        except KeyboardInterrupt:
            pass  # as one of TensorFlow's finalizers would drop it
        with pytest.raises(KeyboardInterrupt):
            interrupt.on_train_batch_end(1)
    assert signal.getsignal(signal.SIGINT) is before
