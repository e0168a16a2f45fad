"""The stronger models, trainer options and augmentations."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import SMOKE, compose_train, label_smoothing, scores
from digits.data import augment
from digits.data import datasets
from digits.models import losses
from digits.models import classifiers
from digits.data import pipeline
from digits.data import training_batches
from digits.models import crnn
from digits.training import trainer
from digits.config.schemas import (AugmentationConfig, ConfigError, EarlyStoppingConfig, Optimizer,
                           Precision, Schedule, TrainerConfig)
from digits.config.models import CnnGapConfig, CrnnConfig, MlpConfig, ResnetConfig
from digits.training.train_digits import run_training

X = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)


@pytest.mark.parametrize("cfg", [CnnGapConfig(filters=[8, 16]),
                                 ResnetConfig(filters=[8, 16], blocks_per_stage=1)])
def test_new_models_output_probabilities_and_load_in_safe_mode(cfg, tmp_path):
    model = classifiers.build(cfg)
    probabilities = np.asarray(model(X))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(X)), probabilities, rtol=1e-5, atol=1e-6)


def test_resnet_blocks_add_a_shortcut_each():
    model = classifiers.build(ResnetConfig(filters=[8, 16, 32], blocks_per_stage=2))
    assert sum(isinstance(layer, keras.layers.Add) for layer in model.layers) == 6


@pytest.mark.parametrize("override, key", [
    ("trainer.label_smoothing=1", "trainer.label_smoothing"),
    ("trainer.steps_per_execution=0", "trainer.steps_per_execution"),
    ("trainer.warmup_epochs=10", "trainer.warmup_epochs"),
    ("trainer.plateau_factor=1.5", "trainer.plateau_factor"),
    ("trainer.ema_momentum=1", "trainer.ema_momentum"),
    ("trainer.ema_momentum=0.99", "restore_best_weights=false"),  # default: ES restores weights
    ("augmentation.elastic_probability=2", "augmentation.elastic_probability"),
    ("model=resnet model.blocks_per_stage=0", "model.blocks_per_stage"),
    ("model=cnn model.convs_per_block=0", "model.convs_per_block"),
])
def test_out_of_range_options_fail_naming_the_key(override, key):
    with pytest.raises(ConfigError, match=key):
        compose_train(override.split())


def test_smoothed_loss_matches_keras_categorical_crossentropy():
    labels = np.array([0, 3, 9])
    predictions = keras.ops.softmax(np.random.default_rng(1).normal(size=(3, 10)))
    expected = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(
        keras.ops.one_hot(labels, 10), predictions)
    got = losses.SparseSmoothedCrossentropy(0.1)(labels, predictions)
    np.testing.assert_allclose(float(got), float(expected), rtol=1e-6)
    unsmoothed = keras.losses.SparseCategoricalCrossentropy()(labels, predictions)
    np.testing.assert_allclose(float(losses.SparseSmoothedCrossentropy(0.0)(labels, predictions)),
                               float(unsmoothed), rtol=1e-6)


def test_cosine_schedule_warms_up_then_decays_to_zero():
    cfg = TrainerConfig(schedule=Schedule.cosine, learning_rate=0.01, epochs=4, warmup_epochs=1)
    schedule = trainer.learning_rate(cfg, steps_per_epoch=10)
    rates = [float(schedule(step)) for step in (0, 5, 10, 25, 40)]
    # 10 warm-up steps to 0.01, then half a cosine over the 30 steps left: halfway at step 25.
    assert rates == pytest.approx([0, 0.005, 0.01, 0.005, 0], abs=1e-7)


def tiny_fit(model: keras.Model, cfg: TrainerConfig, run_dir, epochs: int = 3):
    """trainer.fit (the callbacks digits-train uses) on 64 random images, 16 a batch."""
    x = np.random.default_rng(0).integers(0, 256, (64, 28, 28), dtype=np.uint8)
    y = np.arange(64, dtype=np.uint8) % 10
    trainer.compile_model(model, cfg, steps_per_epoch=4)
    train = training_batches.training_dataset(x, y, 16, seed=0)
    val = pipeline.evaluation_dataset(x[:32], y[:32], 16)
    return trainer.fit(model, train, val, cfg, run_dir)


def test_plateau_schedule_lowers_the_rate_when_the_validation_loss_stalls(tmp_path):
    # At a rate of 1e-9 (and without batch norm, whose statistics move whatever the rate) the
    # validation loss cannot improve by ReduceLROnPlateau's min_delta, so every epoch after the
    # first is a plateau of plateau_patience=1: the rate halves twice.
    cfg = TrainerConfig(schedule=Schedule.plateau, learning_rate=1e-9, plateau_factor=0.5,
                        plateau_patience=1, epochs=3, verbose=0,
                        early_stopping=EarlyStoppingConfig(enabled=False))
    model = classifiers.build(MlpConfig(hidden_units=[16], batch_norm=False))
    history, _ = tiny_fit(model, cfg, tmp_path)
    assert len(history["loss"]) == 3
    assert float(model.optimizer.learning_rate) == pytest.approx(0.25e-9, rel=1e-5)
    constant = classifiers.build(MlpConfig(hidden_units=[16], batch_norm=False))
    tiny_fit(constant, TrainerConfig(learning_rate=1e-9, epochs=3, verbose=0,
                                     early_stopping=EarlyStoppingConfig(enabled=False)),
             tmp_path / "constant")
    assert float(constant.optimizer.learning_rate) == pytest.approx(1e-9, rel=1e-5)


def optimizer_settings(model: keras.Model) -> dict:
    """What the compiled optimizer was given: its class, learning rate (a float, or the schedule's
    class and config), weight decay, EMA and momentum."""
    config = model.optimizer.get_config()
    rate = config["learning_rate"]
    return {"class": type(model.optimizer).__name__,
            "learning_rate": (rate["class_name"], rate["config"]) if isinstance(rate, dict)
            else pytest.approx(rate),
            "weight_decay": config["weight_decay"], "use_ema": config["use_ema"],
            "ema_momentum": config["ema_momentum"] if config["use_ema"] else None,
            "momentum": config.get("momentum"), "nesterov": config.get("nesterov")}


COSINE = ("CosineDecay", {"initial_learning_rate": 0.0, "decay_steps": 5 * 10 - 5, "alpha": 0.0,
                          "name": "CosineDecay", "warmup_target": 0.004, "warmup_steps": 5})


@pytest.mark.parametrize("options, expected", [
    (dict(optimizer=Optimizer.adam, learning_rate=0.003),
     {"class": "Adam", "learning_rate": 0.003, "weight_decay": None, "use_ema": False,
      "ema_momentum": None, "momentum": None, "nesterov": None}),
    (dict(optimizer=Optimizer.adamw, learning_rate=0.004, weight_decay=1e-4, epochs=5,
          schedule=Schedule.cosine, warmup_epochs=0.5, label_smoothing=0.05, ema_momentum=0.99,
          early_stopping=EarlyStoppingConfig(enabled=False)),
     {"class": "AdamW", "learning_rate": COSINE, "weight_decay": 1e-4, "use_ema": True,
      "ema_momentum": 0.99, "momentum": None, "nesterov": None}),
    (dict(optimizer=Optimizer.sgd, learning_rate=0.02),
     {"class": "SGD", "learning_rate": 0.02, "weight_decay": None, "use_ema": False,
      "ema_momentum": None, "momentum": 0.9, "nesterov": True}),
])
@pytest.mark.parametrize("steps_per_execution, jit_compile", [(1, False), (3, True)])
def test_compile_hands_every_trainer_option_to_the_loss_and_optimizer(
        options, expected, steps_per_execution, jit_compile):
    cfg = TrainerConfig(steps_per_execution=steps_per_execution, jit_compile=jit_compile, **options)
    model = classifiers.build(MlpConfig(hidden_units=[8]))
    trainer.compile_model(model, cfg, steps_per_epoch=10)
    assert optimizer_settings(model) == expected
    assert label_smoothing(model) == pytest.approx(cfg.label_smoothing)
    assert model.steps_per_execution == steps_per_execution
    assert model.jit_compile is jit_compile


def test_the_default_trainer_runs_eight_steps_per_execution():
    model = classifiers.build(MlpConfig(hidden_units=[8]))
    trainer.compile_model(model, compose_train().trainer, steps_per_epoch=10)
    assert model.steps_per_execution == 8


def test_ema_ends_training_with_the_averaged_weights():
    x = np.random.default_rng(0).random((64, 28, 28, 1), dtype=np.float32)
    y = np.arange(64) % 10

    def trained(ema_momentum):
        keras.utils.set_random_seed(3)
        model = classifiers.build(MlpConfig(hidden_units=[16]))
        cfg = TrainerConfig(learning_rate=0.05, ema_momentum=ema_momentum,
                            early_stopping=EarlyStoppingConfig(enabled=False))
        trainer.compile_model(model, cfg)
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        return model

    plain, averaged = trained(None), trained(0.9)
    assert averaged.optimizer.use_ema and averaged.optimizer.ema_momentum == 0.9
    # Same start, same steps: only the averaging at the end tells them apart.
    for w_plain, w_averaged, moving_average in zip(
            plain.trainable_weights, averaged.trainable_weights,
            averaged.optimizer._model_variables_moving_average):
        np.testing.assert_array_equal(w_averaged.numpy(), moving_average.numpy())
        assert not np.allclose(w_plain.numpy(), w_averaged.numpy())


def test_mixed_precision_keeps_softmax_float32_and_restores_the_policy():
    with trainer.precision(TrainerConfig(precision=Precision.mixed_float16)):
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
        model = classifiers.build(CnnGapConfig(filters=[8]))
    assert keras.mixed_precision.global_policy().name == "float32"
    assert model.layers[1].compute_dtype == "float16"
    assert model(X).dtype == "float32"


def test_a_mixed_precision_model_converts_to_float32_and_back_with_its_weights():
    with trainer.precision(TrainerConfig(precision=Precision.mixed_bfloat16)):
        mixed = crnn.crnn(CrnnConfig(filters=[8, 8], units=8))
    lines = np.random.default_rng(0).random((2, 32, 64, 1), dtype=np.float32)
    single = trainer.with_dtype_policy(mixed, "float32")
    assert {layer.compute_dtype for layer in single.layers} == {"float32"}
    assert "bfloat16" in {layer.compute_dtype for layer in mixed.layers}
    # bfloat16 keeps ~3 significant digits: the same weights give about the same probabilities
    np.testing.assert_allclose(single.predict(lines, verbose=0), mixed.predict(lines, verbose=0),
                               atol=0.02)
    again = trainer.with_dtype_policy(single, "mixed_bfloat16")
    assert again.layers[-1].compute_dtype == "float32"
    assert again.layers[1].compute_dtype == "bfloat16"
    for before, after in zip(single.weights, again.weights):
        np.testing.assert_array_equal(before.numpy(), after.numpy())
    assert trainer.with_dtype_policy(single, "float32") is single


def test_strong_augmentation_runs_in_tf_data_and_repeats_with_a_seed():
    cfg = AugmentationConfig(rotation_degrees=15, elastic_probability=1.0,
                             erasing_probability=1.0, erasing_scale=0.3)
    x = np.random.default_rng(2).integers(0, 256, (64, 28, 28), dtype=np.uint8)
    y = np.zeros(64, dtype=np.int64)

    def first_batch():
        layers = augment.build(cfg, seed=7)
        assert [layer.name for layer in layers.layers] == ["random_affine", "random_elastic",
                                                           "random_erasing"]
        dataset = training_batches.training_dataset(x, y, 32, 7, layers)
        return next(iter(dataset))[0].numpy()

    batch = first_batch()
    assert batch.shape == (32, 28, 28, 1) and 0 <= batch.min() and batch.max() <= 1
    np.testing.assert_array_equal(batch, first_batch())


def test_fast_experiment_options_reach_the_saved_model(tmp_path):
    cfg = compose_train(["experiment=fast", *SMOKE, "model.filters=[8,16]",
                         "trainer.steps_per_execution=2", "trainer.jit_compile=false"])
    metrics = run_training(cfg, tmp_path)
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    model = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert model.name == "cnn" and [layer.filters for layer in model.layers
                                    if isinstance(layer, keras.layers.Conv2D)] == [8, 8, 16, 16]
    # The compile config saved with the model is what training ran with.
    steps = -(-300 // 128)  # 300 training images in batches of 128
    assert optimizer_settings(model) == {
        "class": "AdamW", "weight_decay": 1e-4, "use_ema": False, "ema_momentum": None,
        "momentum": None, "nesterov": None,
        "learning_rate": ("CosineDecay", {"initial_learning_rate": 0.0, "alpha": 0.0,
                                          "decay_steps": steps - int(0.5 * steps),
                                          "name": "CosineDecay", "warmup_target": 0.004,
                                          "warmup_steps": int(0.5 * steps)})}
    assert label_smoothing(model) == pytest.approx(0.05)
    assert model.steps_per_execution == 2 and model.jit_compile is False
    splits = datasets.load(cfg.data, cfg.seed)
    recomputed = scores(model, splits.x_test, splits.y_test)
    assert metrics["test_accuracy"] == pytest.approx(recomputed["accuracy"], abs=1e-6)
    assert metrics["inverted_test_accuracy"] == pytest.approx(recomputed["inverted_accuracy"],
                                                              abs=1e-6)


def test_best_experiment_builds_its_three_block_cnn_and_trains_on_all_but_2000_images():
    cfg = compose_train(["experiment=best"])
    assert cfg.data.val_size == 2000 and cfg.data.train_size is None
    assert cfg.augmentation.invert_probability == 0.5
    assert cfg.trainer.ema_momentum == 0.999 and cfg.trainer.batch_size == 64
    model = classifiers.build(cfg.model)
    assert model.count_params() == 586_282
    assert len([layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]) == 6
