"""Every config group is validated before any data is loaded or any training starts; every default
lives in the schema; renamed options keep working for a release."""

from importlib import resources

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from helpers import SMOKE, compose_train, run_cli, with_partner
from digits.config.schemas import RENAMED_OPTIONS, ConfigError, Optimizer, renamed_option_warnings
from digits.config.models import CnnConfig, MlpConfig

CONF = resources.files("digits.conf")


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
    assert compose_train(["experiment=seed_article"]) == cfg


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


# --- one source for every default --------------------------------------------------------------
def leaves(node: dict, prefix: str = ""):
    """(dotted key, value) of every leaf of a plain nested mapping."""
    for key, value in node.items():
        if isinstance(value, dict):
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def options(group: str) -> list[str]:
    return sorted(f.name.removesuffix(".yaml") for f in CONF.joinpath(group).iterdir()
                  if f.name.endswith(".yaml"))


def read_option(group: str, option: str) -> tuple[list, dict]:
    """An option file's defaults list and the values it sets itself (${...} unresolved)."""
    node = OmegaConf.to_container(OmegaConf.load(str(CONF.joinpath(group, f"{option}.yaml"))),
                                  resolve=False) or {}
    return node.pop("defaults", []), node


# Values the compose below needs for the required keys; no option sets either.
REQUIRED = ["data.path=PATH", "trainer.init_from=MODEL"]


@pytest.mark.parametrize("group", ["data", "augmentation", "model", "trainer"])
def test_group_files_set_only_what_differs_from_the_schema(group):
    for option in options(group):
        chosen = getattr(compose_train([*with_partner(f"{group}={option}"), *REQUIRED]), group)
        schema = OmegaConf.structured(type(chosen))
        for key, value in leaves(read_option(group, option)[1]):
            assert value != OmegaConf.select(schema, key, throw_on_missing=False), (
                f"conf/{group}/{option}.yaml sets {key}={value!r}, the schema's default: "
                "drop it (its schema holds it)")


@pytest.mark.parametrize("experiment", options("experiment"))
def test_experiments_set_only_what_their_groups_do_not(experiment):
    defaults, values = read_option("experiment", experiment)
    groups = [f"{key.removeprefix('override /')}={option}" for entry in defaults
              if isinstance(entry, dict) for key, option in entry.items()]
    base = OmegaConf.structured(compose_train(groups + REQUIRED))
    for key, value in leaves(values):
        assert value != OmegaConf.select(base, key), (
            f"conf/experiment/{experiment}.yaml sets {key}={value!r}, which its groups already "
            "give: drop it")


# --- one mechanism for required values ---------------------------------------------------------
@pytest.mark.parametrize("overrides, key", [
    (["data=npz"], "data.path"),
    (["data=folder"], "data.path"),
    (["experiment=finetune", "data.path=photos/"], "trainer.init_from"),
])
def test_a_required_value_left_out_names_the_key_to_add(overrides, key):
    with pytest.raises(ConfigError) as error:
        compose_train(overrides)
    assert str(error.value) == f"{key} is required: add {key}=... to the command"


def test_cli_stops_for_a_missing_path_before_loading_data_and_warns_of_an_old_name(tmp_path):
    result = run_cli("digits.train", "data=npz", "augmentation=seed", *SMOKE[3:],
                     f"hydra.run.dir={tmp_path}/run")
    output = result.stderr + result.stdout
    assert result.returncode == 2
    assert "data.path is required: add data.path=... to the command" in output
    assert "Traceback" not in output
    assert "validation" not in output  # the "data: N train, N validation" line of a load
    assert not (tmp_path / "run" / "history.csv").exists()
    warnings = [line for line in output.splitlines() if "deprecated" in line]
    assert len(warnings) == 1 and "use augmentation=article" in warnings[0]


# --- renamed options -----------------------------------------------------------------------------
RENAMES = [(group, old, new) for group, renames in RENAMED_OPTIONS.items()
           for old, new in renames.items()]


@pytest.mark.parametrize("group, old, new", RENAMES)
def test_an_old_option_name_composes_the_same_and_names_the_new_one(group, old, new):
    assert compose_train([f"{group}={old}"]) == compose_train([f"{group}={new}"])
    defaults, values = read_option(group, old)
    assert defaults == [new, "_self_"] and values == {}  # a thin alias
    assert renamed_option_warnings({group: old, "data": "mnist"}) == [
        f"{group}={old} is deprecated and will be removed in the next release: use {group}={new}"]
    assert renamed_option_warnings({group: new}) == []
