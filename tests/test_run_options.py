"""The paths, logger and debug groups: composed into their schemas, checked before any data
loads, and the cache folder's order (paths.cache, then DIGITS_CACHE, then ~/.cache/digits)."""

from pathlib import Path

import pytest
from helpers import compose_train, with_partner
from digits.config.run_options import DebugMode, PathsConfig
from digits.config.schemas import ConfigError


def test_defaults_log_to_tensorboard_alone_and_debug_nothing():
    cfg = compose_train()
    assert (cfg.logger.tensorboard, cfg.logger.csv, cfg.logger.mlflow.enabled) == (True, False,
                                                                                  False)
    assert cfg.debug is None
    assert (cfg.paths.cache, cfg.paths.output, cfg.paths.multirun) == (None, "outputs",
                                                                       "multirun")


def test_a_list_of_loggers_turns_each_on():
    cfg = compose_train(["logger=[csv,mlflow]"])
    assert (cfg.logger.tensorboard, cfg.logger.csv, cfg.logger.mlflow.enabled) == (False, True,
                                                                                  True)


@pytest.mark.parametrize("option", ["model=cnn", "model=crnn", "experiment=best",
                                    "experiment=numbers"])
@pytest.mark.parametrize("mode", ["default", "overfit", "profile"])
def test_every_debug_mode_composes_with_any_model_and_wins_over_an_experiment(option, mode):
    cfg = compose_train([*with_partner(option), f"debug={mode}"])
    assert cfg.debug.mode is DebugMode(mode)
    assert not cfg.trainer.early_stopping.enabled and cfg.trainer.verbose == 1
    if mode == "overfit":
        assert cfg.trainer.label_smoothing == 0 and cfg.trainer.ema_momentum is None
    else:
        assert cfg.trainer.epochs == 1


@pytest.mark.parametrize("override, message", [
    ("debug.loss_threshold=0", "debug.loss_threshold=0.0 is invalid: must be > 0"),
    ("debug.profile_steps=[5,2]", "debug.profile_steps=[5, 2] is invalid"),
    ("debug.max_steps=0", "debug.max_steps=0 is invalid"),
    ("logger.mlflow.connect_timeout=0", "logger.mlflow.connect_timeout=0 is invalid"),
    ("paths.output=''", "paths.output='' is invalid: must be a folder"),
])
def test_out_of_range_values_are_refused_by_name(override, message):
    extra = ["debug=profile"] if override.startswith("debug") else []
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        compose_train([*extra, override])


def test_an_unknown_option_names_the_valid_ones():
    with pytest.raises(Exception) as error:
        compose_train(["debug=fast"])
    assert "Available options in 'debug'" in str(error.value)
    assert all(name in str(error.value) for name in ("default", "overfit", "profile"))


def test_the_cache_folder_is_the_key_then_digits_cache_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("DIGITS_CACHE", str(tmp_path / "env"))
    assert PathsConfig().cache_folder() == tmp_path / "env"
    assert PathsConfig(cache=str(tmp_path / "key")).cache_folder() == tmp_path / "key"
    monkeypatch.delenv("DIGITS_CACHE")
    assert PathsConfig().cache_folder() == Path.home() / ".cache" / "digits"
