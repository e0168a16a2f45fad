"""digits-train data=numbers model=crnn: the config pairs numbers with the CRNN before any data
loads; a tiny run writes a plain-Keras model.keras and a metrics.json that re-reading the fixed
sets with that model gives again; the training stream is keyed on (seed, epoch, step)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from helpers import compose_train, load_in_plain_keras, run_cli
from digits.runs import backup
from digits.data import datasets
from digits.reading import number_reader
from digits.data.numbers import fixed_sets
from digits.data.numbers import composed
from digits.models import crnn
from digits.training import train_numbers
from digits.training import trainer
from digits.synth import number_layout
from digits.vision import mnist_style
from digits.vision import number_lines
from digits.config.schemas import ConfigError
from digits.evaluation import sweep_report

# Seconds, not minutes: a narrow CRNN with the conv head, a few small batches of short numbers.
TINY = ["data=numbers", "model=crnn", "model.filters=[8,16,16]", "model.units=16",
        "model.head=conv", "data.steps_per_epoch=2", "data.max_digits=3",
        "data.photo_fraction=0.25", "data.validation_count=16", "data.test_count=24", "data.val_size=1000",
        "trainer.batch_size=8", "trainer.epochs=2", "trainer.verbose=0",
        "trainer.early_stopping.monitor=val_exact_accuracy"]


@pytest.mark.parametrize("overrides, named", [
    (["model=crnn"], "model=crnn with digit data is invalid"),
    (["model=crnn", "data=handwriting"], "model=crnn with digit data is invalid"),
    (["data=numbers"], "model=mlp with data=numbers is invalid"),
    (["data=numbers", "model=cnn"], "model=cnn with data=numbers is invalid"),
])
def test_numbers_and_the_crnn_only_go_together(overrides, named):
    with pytest.raises(ConfigError) as error:
        compose_train(overrides)
    assert named in str(error.value)
    assert "need model=crnn" in str(error.value) and "mlp, cnn, cnn_gap, resnet" in str(error.value)


@pytest.mark.parametrize("overrides, named", [
    (["trainer.early_stopping.monitor=val_accuracy"], "trainer.early_stopping.monitor"),
    (["optimized_metric=best_val_accuracy"], "optimized_metric"),
    (["trainer.strategy=mirrored"], "trainer.strategy"),
    (["trainer.init_from=RUN", "trainer.freeze_features=true"], "trainer.freeze_features"),
])
def test_number_runs_refuse_digit_metrics_and_what_they_cannot_do(overrides, named):
    with pytest.raises(ConfigError, match=named):
        compose_train(["data=numbers", "model=crnn", *overrides])
    assert compose_train(["data=numbers", "model=crnn"]).optimized_metric == \
        "best_val_exact_accuracy"


def test_the_refusal_comes_before_any_data_loads(tmp_path):
    """A missing data file would be a data error; the mismatch is reported first, exit 2."""
    result = run_cli("digits.train", "model=crnn", "data=npz", f"data.path={tmp_path}/none.npz",
                     f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2, result.stderr
    assert "model=crnn with digit data is invalid" in result.stdout + result.stderr
    assert "none.npz" not in result.stdout + result.stderr


def test_a_batch_is_its_epoch_and_step_so_a_resumed_stream_repeats(tmp_path):
    cfg = compose_train([*TINY, "data.photo_fraction=0"])
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 255, (50, 28, 28), dtype=np.uint8), rng.integers(0, 10, 50)
    from_start = train_numbers.training_stream(x, y, cfg.data, 4, seed=3).take(3)
    resumed = train_numbers.training_stream(x, y, cfg.data, 4, seed=3, first_epoch=1).take(1)
    (_, _), (_, _), (lines, labels) = list(from_start.as_numpy_iterator())
    [(again, again_labels)] = list(resumed.as_numpy_iterator())
    expected, expected_labels, _ = train_numbers.epoch_batch(x, y, cfg.data, 4, 3, epoch=1, step=0)
    np.testing.assert_array_equal(lines, expected)
    np.testing.assert_array_equal(again, expected)
    np.testing.assert_array_equal(labels, expected_labels)
    np.testing.assert_array_equal(again_labels, expected_labels)
    other, _, _ = train_numbers.epoch_batch(x, y, cfg.data, 4, 3, epoch=2, step=0)
    assert other.shape != expected.shape or not np.array_equal(other, expected)


def test_each_batch_holds_two_neighbouring_lengths_and_a_run_all_alike():
    cfg = compose_train(["experiment=numbers"]).data
    drawn = [train_numbers.batch_lengths(cfg, 7, epoch, step)
             for epoch in range(4) for step in range(200)]
    assert set(drawn) == {(1, 2), (3, 4), (5, 6), (7, 8)}
    counts = np.unique([pair[0] for pair in drawn], return_counts=True)[1]
    assert counts.min() > 0.8 * counts.max()  # 200 of each expected
    assert train_numbers.batch_lengths(cfg, 7, 2, 5) == drawn[2 * 200 + 5]
    odd = compose_train(["data=numbers", "model=crnn", "data.min_digits=2",
                         "data.max_digits=4"]).data
    assert {train_numbers.batch_lengths(odd, 0, 0, step) for step in range(50)} == {(2, 3), (4, 4)}


def test_the_recipe_clips_gradients_and_the_default_does_not():
    recipe = trainer.make_optimizer(compose_train(["experiment=numbers"]).trainer, 10)
    assert isinstance(recipe, keras.optimizers.AdamW) and recipe.global_clipnorm == 5.0
    assert trainer.make_optimizer(compose_train().trainer).global_clipnorm is None
    with pytest.raises(ConfigError, match="trainer.clip_norm"):
        compose_train(["trainer.clip_norm=0"])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("numbers")
    cfg = compose_train(TINY)
    metrics = train_numbers.run_training(cfg, run_dir)
    return run_dir, cfg, metrics


@pytest.mark.slow
def test_a_tiny_run_writes_metrics_that_the_saved_model_gives_again(tiny_run):
    run_dir, cfg, metrics = tiny_run
    assert metrics == json.loads((run_dir / "metrics.json").read_text())
    assert metrics["preprocessing_version"] == mnist_style.PREPROCESSING_VERSION
    assert metrics["epochs"] == 2 and metrics["parameters"] > 0
    assert metrics["model"] == {"name": "crnn", "config": {
        "name": "crnn", "height": 32, "filters": [8, 16, 16], "paired_blocks": 0, "head": "conv",
        "units": 16, "dropout": 0.2}}
    history = trainer.read_history(run_dir / trainer.HISTORY_FILE)
    assert {"loss", "val_loss", "val_exact_accuracy", "val_cer"} <= set(history)
    assert len(history["loss"]) == 2
    assert metrics["best_val_exact_accuracy"] == max(history["val_exact_accuracy"])
    assert metrics["weights"] == "best_epoch"
    assert metrics["weights_epoch"] == trainer.best_epoch(history, "val_exact_accuracy")

    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    assert crnn.is_sequence_model(model) and getattr(model, "optimizer", None) is None
    splits = datasets.load(cfg.data, cfg.seed)
    x, y = composed.split_arrays(splits, "test")
    lines, labels, metadata = fixed_sets.fixed_set(x, y, cfg.data.test_count)
    read = [reading.number for reading in number_reader.read(model, lines)]  # as the tools read
    scores = crnn.scores(read, labels)
    assert metrics["test_exact_accuracy"] == pytest.approx(scores["exact_accuracy"])
    assert metrics["test_cer"] == pytest.approx(scores["cer"])
    for length in range(1, number_layout.MAX_DIGITS + 1):
        of_length = [p == t for p, t, m in zip(read, labels, metadata) if m["length"] == length]
        assert metrics["test_exact_by_length"][str(length)] == pytest.approx(np.mean(of_length))
    spacings = {m["spacing"] for m in metadata}
    assert set(metrics["test_exact_by_spacing"]) == spacings
    assert metrics["val_exact_accuracy"] == pytest.approx(validation_exact(model, splits, cfg))
    assert not (run_dir / "backup").exists()


def validation_exact(model: keras.Model, splits: datasets.Splits, cfg) -> float:
    """Exact accuracy of `model` on the run's fixed validation numbers, read as training reads."""
    x_val, y_val = composed.split_arrays(splits, "validation")
    val_lines, val_labels, _ = fixed_sets.fixed_set(x_val, y_val, cfg.data.validation_count,
                                                     fixed_sets.VALIDATION_SEED)
    val_read = [reading.number for reading in crnn.read_lines(model, val_lines)]
    return crnn.exact_accuracy(val_read, val_labels)


def test_a_bfloat16_run_trains_in_bfloat16_and_saves_the_float32_reader_it_measured(tmp_path):
    cfg = compose_train([*TINY, "trainer.precision=mixed_bfloat16", "trainer.epochs=1"])
    metrics = train_numbers.run_training(cfg, tmp_path)
    model = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert {layer.compute_dtype for layer in model.layers} == {"float32"}
    assert keras.mixed_precision.global_policy().name == "float32"
    splits = datasets.load(cfg.data, cfg.seed)
    assert metrics["val_exact_accuracy"] == pytest.approx(validation_exact(model, splits, cfg))
    # the best epoch's checkpoint is the model as trained
    trained = keras.saving.load_model(tmp_path / trainer.CHECKPOINT, safe_mode=True)
    assert "bfloat16" in {layer.compute_dtype for layer in trained.layers}


@pytest.mark.slow
def test_the_saved_reader_loads_in_plain_keras_without_digits(tiny_run):
    run_dir, _, _ = tiny_run
    (loaded,) = load_in_plain_keras([run_dir / "model.keras"])  # a blank line of 64 columns
    assert loaded.output.shape == (1, 16, 11)
    np.testing.assert_allclose(loaded.output.sum(-1), 1, atol=1e-4)


def test_read_lines_keeps_the_input_order_and_scores_count_exact_and_cer():
    model = crnn.crnn(crnn.CrnnConfig(filters=[8, 16, 16], units=8, head="conv"))
    rng = np.random.default_rng(1)
    lines = [rng.integers(0, 255, (32, int(width)), dtype=np.uint8) for width in (300, 40, 150)]
    alone = [crnn.decode(keras.ops.convert_to_numpy(model(number_lines.pad_lines([line]))))[0]
             for line in lines]
    read = crnn.read_lines(model, lines, batch_size=1)  # read widest last, returned in order
    assert [r.confidence for r in read] == pytest.approx([r.confidence for r in alone], rel=1e-5)
    assert [r.number for r in read] == [r.number for r in alone]
    assert crnn.scores(["12", "3", ""], ["12", "4", "5"]) == {
        "exact_accuracy": pytest.approx(1 / 3), "cer": pytest.approx(2 / 4)}
    assert crnn.is_sequence_model(model)
    digit_model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                    keras.layers.Dense(10, activation="softmax")])
    assert not crnn.is_sequence_model(digit_model)


def test_the_sweep_report_ranks_number_runs_by_validation_exact_accuracy(tmp_path):
    from digits import report
    for index, (val, test) in enumerate([(0.5, 0.9), (0.8, 0.7)]):
        job = tmp_path / str(index)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- model.units={16 * (index + 1)}\n")
        (job / "metrics.json").write_text(json.dumps(
            {"val_exact_accuracy": val, "best_val_exact_accuracy": val + 0.01,
             "test_exact_accuracy": test, "epochs": 2, "train_seconds": 1.0}))
    ranked = sweep_report.ranked(sweep_report.collect(tmp_path))
    assert [(row["run"], row["val_accuracy"], row["test_accuracy"]) for row in ranked] == [
        ("1", 0.8, 0.7), ("0", 0.5, 0.9)]


@pytest.mark.slow
def test_a_run_stopped_after_its_first_epoch_resumes_to_the_same_results(tiny_run, tmp_path,
                                                                         monkeypatch):
    """Stopped right after epoch 1 was backed up, then started again in the same folder: the
    history and metrics are the uninterrupted run's (the second epoch's batches included)."""
    uninterrupted_dir, cfg, uninterrupted = tiny_run
    backed_up = backup.Backup.on_epoch_end

    def stop_after_the_first(self, epoch, logs=None):
        backed_up(self, epoch, logs)
        if epoch == 0:
            raise KeyboardInterrupt

    monkeypatch.setattr(backup.Backup, "on_epoch_end", stop_after_the_first)
    with pytest.raises(KeyboardInterrupt):
        train_numbers.run_training(cfg, tmp_path)
    monkeypatch.undo()
    assert backup.backed_up_epochs(tmp_path) == 1 and not (tmp_path / "metrics.json").exists()
    resumed = train_numbers.run_training(cfg, tmp_path)
    assert (tmp_path / "history.csv").read_text() == \
        (uninterrupted_dir / "history.csv").read_text()
    assert {**resumed, "train_seconds": 0} == {**uninterrupted, "train_seconds": 0}
