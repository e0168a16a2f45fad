"""Every config group is validated before any data is loaded or any training starts."""

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ValidationError

from helpers import SMOKE, compose_train, run_cli
from digits.config import CnnConfig, ConfigError, MlpConfig, Optimizer


def test_defaults_are_the_articles_recipe():
    cfg = compose_train()
    assert isinstance(cfg.model, MlpConfig) and cfg.model.hidden_units == [256, 128, 64]
    assert (cfg.augmentation.rotation_degrees, cfg.augmentation.width_shift,
            cfg.augmentation.height_shift, cfg.augmentation.zoom,
            cfg.augmentation.invert_probability) == (15, 0.15, 0.15, 0.15, 0.5)
    assert cfg.trainer.optimizer is Optimizer.adam and cfg.trainer.batch_size == 32
    assert cfg.trainer.epochs == 10 and cfg.trainer.early_stopping.patience == 3
    assert cfg.trainer.early_stopping.monitor == "val_loss"
    assert cfg.trainer.early_stopping.restore_best_weights
    assert cfg.data.path is None and cfg.data.val_size == 10_000
    assert compose_train(["experiment=article"]) == cfg


def test_groups_compose_into_their_schemas():
    cfg = compose_train(["model=cnn", "augmentation=none", "trainer=smoke", "model.filters=[8]"])
    assert isinstance(cfg.model, CnnConfig) and cfg.model.filters == [8]
    assert cfg.augmentation.invert_probability == 0 and cfg.trainer.epochs == 1


@pytest.mark.parametrize("override, message", [
    ("trainer.learning_rate=0", "trainer.learning_rate=0.0 is invalid: must be > 0"),
    ("trainer.learning_rate=-1e-3", "trainer.learning_rate=-0.001 is invalid"),
    ("trainer.batch_size=0", "trainer.batch_size=0 is invalid: must be >= 1"),
    ("trainer.epochs=0", "trainer.epochs=0 is invalid"),
    ("trainer.early_stopping.patience=-1", "patience=-1 is invalid"),
    ("trainer.early_stopping.monitor=loss", "one of val_loss, val_accuracy"),
    ("augmentation.rotation_degrees=200", "rotation_degrees=200.0 is invalid: must be in [0, 180]"),
    ("augmentation.rotation_degrees=-5", "rotation_degrees=-5.0 is invalid"),
    ("augmentation.invert_probability=1.5", "invert_probability=1.5 is invalid"),
    ("augmentation.width_shift=2", "augmentation.width_shift=2.0 is invalid"),
    ("augmentation.zoom=1", "augmentation.zoom=1.0 is invalid"),
    ("data.val_size=0", "data.val_size=0 is invalid"),
    ("model.hidden_units=[]", "model.hidden_units=[] is invalid"),
    ("model.dropout=1", "model.dropout (mlp)=1.0 is invalid"),
    ("optimized_metric=accuracy", "optimized_metric='accuracy' is invalid: must be one of"),
    ("data.train_size=0", "data.train_size=0 is invalid"),
])
def test_out_of_range_values_are_refused(override, message):
    with pytest.raises(ConfigError) as error:
        compose_train([override])
    assert message in str(error.value)


@pytest.mark.parametrize("override, message", [
    ("trainer.optimizer=adamm", "Invalid value 'adamm', expected one of [adam, adamw, sgd]"),
    ("augmentation.fill_mode=mirror", "expected one of [constant, nearest, reflect, wrap]"),
    ("trainer.batch_size=big", "Value 'big' of type 'str' could not be converted to Integer"),
    ("data.vall_size=5", "Key 'vall_size' not in 'DataConfig'"),
    ("model.filters=[8]", "Key 'filters' not in 'MlpConfig'"),
])
def test_typos_and_wrong_types_are_refused(override, message):
    with pytest.raises((ConfigCompositionException, ValidationError)) as error:
        compose_train([override])
    text = str(error.value) + str(error.value.__cause__)
    assert message in text


def test_unknown_group_option_names_the_valid_ones():
    with pytest.raises(ConfigCompositionException) as error:
        compose_train(["model=transformer"])
    assert "Could not find 'model/transformer'" in str(error.value)
    assert "cnn" in str(error.value) and "mlp" in str(error.value)


def test_cli_rejects_a_bad_value_before_training(tmp_path):
    result = run_cli("digits.train", *SMOKE, "trainer.learning_rate=-1",
                     f"hydra.run.dir={tmp_path}/run")
    assert result.returncode == 2
    assert "trainer.learning_rate=-1.0 is invalid: must be > 0" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "history.csv").exists()


def test_cli_rejects_a_too_large_validation_split(tmp_path):
    result = run_cli("digits.train", "data.val_size=60000", f"hydra.run.dir={tmp_path}/run")
    assert result.returncode == 2
    assert "data.val_size=60000 is invalid" in result.stderr + result.stdout
