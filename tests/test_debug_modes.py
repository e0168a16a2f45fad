"""debug=default, overfit and profile on real (tiny) runs: a short epoch, a model that fits a
few repeated batches or fails saying so, a profiler trace in the run's TensorBoard folder."""

import pytest

from helpers import SMOKE, compose_train
from digits.training import train_digits
from digits.training import debug_modes, loggers, train_numbers, trainer

TINY_DATA = [key for key in SMOKE if not key.startswith("trainer.epochs=")]
SMALL_CNN = ["model=cnn", "model.filters=[8,16]", "model.dense_units=32"]
# The shipped CRNN (a narrower one cannot fit even four batches quickly), short numbers, small
# fixed sets.
NUMBERS = ["data=numbers", "model=crnn", "data.max_digits=4", "data.validation_count=16",
           "data.test_count=24", "data.val_size=1000", "trainer.batch_size=16",
           "trainer.early_stopping.monitor=val_exact_accuracy"]


def test_overfit_fits_a_few_repeated_batches_of_a_cnn(tmp_path):
    cfg = compose_train([*TINY_DATA, *SMALL_CNN, "debug=overfit", "trainer.verbose=0"])
    train_digits.run_training(cfg, tmp_path)
    losses = trainer.read_history(tmp_path / trainer.HISTORY_FILE)["loss"]
    assert losses[-1] < cfg.debug.loss_threshold <= min(losses[:-1], default=1.0)
    assert len(losses) < cfg.trainer.epochs  # stopped once the loss was below the threshold


def test_overfit_fails_with_its_message_when_the_model_cannot_learn(tmp_path):
    cfg = compose_train([*TINY_DATA, *SMALL_CNN, "debug=overfit", "trainer.verbose=0",
                         "trainer.learning_rate=1e-9", "trainer.epochs=2"])
    with pytest.raises(debug_modes.OverfitFailed) as failed:
        train_digits.run_training(cfg, tmp_path)
    assert str(failed.value).startswith("debug=overfit failed: the training loss on 4 repeated "
                                        "batches is still ")
    assert "after 2 epochs of 40 steps" in str(failed.value)
    assert "trainer.learning_rate=1e-09" in str(failed.value)
    assert not (tmp_path / "metrics.json").exists()


@pytest.mark.slow
def test_overfit_fits_a_few_repeated_batches_of_whole_numbers(tmp_path):
    cfg = compose_train([*NUMBERS, "debug=overfit", "trainer.verbose=0"])
    train_numbers.run_training(cfg, tmp_path)
    losses = trainer.read_history(tmp_path / trainer.HISTORY_FILE)["loss"]
    assert losses[-1] < cfg.debug.loss_threshold


def test_check_fitted_passes_below_the_threshold_and_names_the_numbers_above_it():
    cfg = compose_train(["debug=overfit"]).debug
    debug_modes.check_fitted(cfg, [2.0, 0.05], 0.001)
    with pytest.raises(debug_modes.OverfitFailed, match=r"still 0\.5 after 2 epochs of 40 steps"):
        debug_modes.check_fitted(cfg, [2.0, 0.5], 0.001)
    debug_modes.check_fitted(None, [2.0, 0.5], 0.001)  # not debugging: nothing to check


def test_default_is_one_short_epoch_and_profile_writes_a_trace_and_the_csv_logger_its_rows(
        tmp_path):
    cfg = compose_train([*SMOKE, "debug=default", "debug.max_steps=3", "trainer.verbose=0"])
    train_digits.run_training(cfg, tmp_path / "short")
    assert len(trainer.read_history(tmp_path / "short" / trainer.HISTORY_FILE)["loss"]) == 1

    run_dir = tmp_path / "profiled"
    cfg = compose_train([*SMOKE, "debug=profile", "logger=csv", "trainer.verbose=0"])
    train_digits.run_training(cfg, run_dir, loggers.RunLoggers(cfg, run_dir).callbacks())
    traces = list((run_dir / "tensorboard").rglob("*.xplane.pb"))
    assert traces and all("plugins/profile" in str(trace) for trace in traces)
    rows = (run_dir / "logs" / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,") and "val_accuracy" in rows[0] and len(rows) == 2
