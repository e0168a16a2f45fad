"""Schemas for every config group, registered in Hydra's ConfigStore (the data group's are in
digits/config/data.py, the model group's in digits/config/models.py).

Types and choices are checked by OmegaConf when Hydra composes the config (an unknown key or enum
value fails there, naming what is valid); ranges are checked in ``__post_init__``, which runs when
``to_objects`` turns the composed config into these dataclasses, before any data is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Mapping, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError

from digits.config.checks import ConfigError, check  # callers import these from here too
from digits.config.data import (  # noqa: F401  (re-exported: callers import them from here)
    DATA_SCHEMAS, DataConfig, FolderDataConfig, HandwritingDataConfig, NumbersDataConfig,
    data_config)
from digits.config.models import MODEL_SCHEMAS, SEQUENCE_MODELS, CrnnConfig
from digits.config.run_options import DebugConfig, LoggerConfig, PathsConfig

# --- augmentation ------------------------------------------------------------------------------
class FillMode(str, Enum):
    constant = "constant"
    nearest = "nearest"
    reflect = "reflect"
    wrap = "wrap"


@dataclass
class AugmentationConfig:
    rotation_degrees: float = 0.0
    width_shift: float = 0.0  # fraction of the width
    height_shift: float = 0.0
    zoom: float = 0.0  # scale drawn from [1 - zoom, 1 + zoom]
    invert_probability: float = 0.0
    fill_mode: FillMode = FillMode.nearest
    elastic_probability: float = 0.0  # keras.layers.RandomElasticTransform(factor)
    elastic_scale: float = 1.0  # its displacement scale (sigma of the smoothed field)
    erasing_probability: float = 0.0  # keras.layers.RandomErasing(factor)
    erasing_scale: float = 0.2  # largest erased area as a fraction of the image

    def __post_init__(self) -> None:
        for key in ("elastic_probability", "erasing_probability"):
            value = getattr(self, key)
            check(0 <= value <= 1, f"augmentation.{key}", value, "a probability in [0, 1]")
        check(self.elastic_scale > 0, "augmentation.elastic_scale", self.elastic_scale, "> 0")
        check(0 < self.erasing_scale <= 1, "augmentation.erasing_scale", self.erasing_scale,
              "in (0, 1]")
        check(0 <= self.rotation_degrees <= 180, "augmentation.rotation_degrees",
              self.rotation_degrees, "in [0, 180]")
        for key in ("width_shift", "height_shift"):
            value = getattr(self, key)
            check(0 <= value <= 1, f"augmentation.{key}", value, "in [0, 1]")
        check(0 <= self.zoom < 1, "augmentation.zoom", self.zoom, "in [0, 1)")
        check(0 <= self.invert_probability <= 1, "augmentation.invert_probability",
              self.invert_probability, "a probability in [0, 1]")


# --- trainer -----------------------------------------------------------------------------------
class Optimizer(str, Enum):
    adam = "adam"
    adamw = "adamw"
    sgd = "sgd"


class Precision(str, Enum):
    """trainer.precision: the Keras dtype policy a run builds and trains its model under."""
    float32 = "float32"
    mixed_float16 = "mixed_float16"  # float16 compute, float32 weights and softmax (GPUs)
    mixed_bfloat16 = "mixed_bfloat16"  # bfloat16 compute: CPUs with AVX512_BF16 or AMX, TPUs


class Schedule(str, Enum):
    constant = "constant"
    cosine = "cosine"  # linear warm-up, then cosine decay to zero over the remaining epochs
    plateau = "plateau"  # ReduceLROnPlateau on the early-stopping monitor


# What each task logs after an epoch (a whole-number run has no per-digit accuracy)
DIGIT_MONITORS = ("val_loss", "val_accuracy")
NUMBER_MONITORS = ("val_loss", "val_exact_accuracy", "val_cer")


@dataclass
class EarlyStoppingConfig:
    enabled: bool = True
    monitor: str = "val_loss"
    patience: int = 3
    restore_best_weights: bool = True

    def __post_init__(self) -> None:
        monitors = dict.fromkeys(DIGIT_MONITORS + NUMBER_MONITORS)
        check(self.monitor in monitors, "trainer.early_stopping.monitor", self.monitor,
              "one of " + ", ".join(monitors))
        check(self.patience >= 0, "trainer.early_stopping.patience", self.patience, ">= 0")


@dataclass
class TrainerConfig:
    optimizer: Optimizer = Optimizer.adam
    learning_rate: float = 1e-3
    weight_decay: float = 0.0  # used by adamw
    ema_momentum: Optional[float] = None  # e.g. 0.999: end with a moving average of the weights
    clip_norm: Optional[float] = None  # e.g. 5.0: gradients scaled down to this global norm
    batch_size: int = 32
    epochs: int = 10
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    verbose: int = 2  # Keras fit verbosity: 0 silent, 1 progress bar, 2 one line per epoch
    label_smoothing: float = 0.0
    schedule: Schedule = Schedule.constant
    warmup_epochs: float = 0.0  # cosine only
    plateau_factor: float = 0.5  # plateau only: learning rate *= factor after `plateau_patience`
    plateau_patience: int = 1
    jit_compile: Optional[bool] = None  # None: Keras' "auto"
    # Steps per compiled call: the same training, about a third less time for the article's MLP.
    steps_per_execution: int = 8
    # Mixed policies compute in 16 bits and keep the weights and the output in float32; the model
    # saved computes in float32 again (trainer.with_dtype_policy), as readers load it.
    precision: Precision = Precision.float32
    # default | mirrored (all local GPUs) | multi_worker (a cluster from TF_CONFIG); see
    # digits/training/distribute.py
    strategy: str = "default"
    # The weights' start, shuffling and augmentation; null: the top-level seed. The data (validation
    # split, reader views and their cache) always follow the top-level seed, so ensemble members
    # differing only here share a validation split that none of them trained on.
    seed: Optional[int] = None
    init_from: Optional[str] = None  # a run folder or .keras file to start from (fine-tuning)
    freeze_features: bool = False  # with init_from: train only the final classifier layer

    def __post_init__(self) -> None:
        check(0 <= self.label_smoothing < 1, "trainer.label_smoothing", self.label_smoothing,
              "in [0, 1)")
        check(0 <= self.warmup_epochs < max(self.epochs, 1), "trainer.warmup_epochs",
              self.warmup_epochs, "in [0, trainer.epochs)")
        check(0 < self.plateau_factor < 1, "trainer.plateau_factor", self.plateau_factor,
              "in (0, 1)")
        check(self.plateau_patience >= 0, "trainer.plateau_patience", self.plateau_patience,
              ">= 0")
        check(self.steps_per_execution >= 1, "trainer.steps_per_execution",
              self.steps_per_execution, ">= 1")
        check(self.learning_rate > 0, "trainer.learning_rate", self.learning_rate, "> 0")
        check(self.ema_momentum is None or 0 < self.ema_momentum < 1, "trainer.ema_momentum",
              self.ema_momentum, "null or in (0, 1)")
        # Keras writes the average into the model before EarlyStopping restores the best epoch's
        # own weights, which would silently replace it.
        stopping = self.early_stopping
        check(self.ema_momentum is None or not (stopping.enabled and stopping.restore_best_weights),
              "trainer.ema_momentum", self.ema_momentum,
              "null while early stopping restores the best epoch's weights (they would replace "
              "the average): set trainer.early_stopping.restore_best_weights=false or "
              "trainer.early_stopping.enabled=false")
        check(self.weight_decay >= 0, "trainer.weight_decay", self.weight_decay, ">= 0")
        check(self.clip_norm is None or self.clip_norm > 0, "trainer.clip_norm", self.clip_norm,
              "null or > 0")
        check(self.batch_size >= 1, "trainer.batch_size", self.batch_size, ">= 1")
        check(self.epochs >= 1, "trainer.epochs", self.epochs, ">= 1")
        check(self.verbose in (0, 1, 2), "trainer.verbose", self.verbose, "0, 1 or 2")
        check(self.strategy in ("default", "mirrored", "multi_worker"), "trainer.strategy",
              self.strategy, "default, mirrored or multi_worker")
        check(self.init_from is not None or not self.freeze_features, "trainer.freeze_features",
              self.freeze_features, "false unless trainer.init_from gives a model to start from")


# --- the whole training config -----------------------------------------------------------------
DEFAULT_SEED = 42  # draws the data split: a run's seed unless it gives another


@dataclass
class TrainConfig:
    data: Any = MISSING  # DataConfig or FolderDataConfig, chosen by the data group
    augmentation: AugmentationConfig = MISSING
    model: Any = MISSING  # one of digits/config/models.py's, chosen by the model group
    trainer: TrainerConfig = MISSING
    # How the run is carried out (digits/config/run_options.py): never what it learns
    paths: PathsConfig = field(default_factory=PathsConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    debug: Optional[DebugConfig] = None
    seed: int = DEFAULT_SEED
    resume: Optional[str] = None  # a run folder: go on with its saved config, in that folder
    # What a run returns to a sweeper (Optuna); null: best_val_accuracy, or for whole numbers
    # best_val_exact_accuracy
    optimized_metric: Optional[str] = None

    def __post_init__(self) -> None:
        numbers = check_task(self.data, self.model)
        metrics = NUMBER_METRICS if numbers else DIGIT_METRICS
        if self.optimized_metric is None:
            self.optimized_metric = metrics[0]
        check(self.optimized_metric in metrics, "optimized_metric", self.optimized_metric,
              "one of " + ", ".join(metrics) + (" (data=numbers)" if numbers else ""))
        if numbers:  # batches are drawn in Python; the CRNN's last layer is its softmax
            check(self.trainer.strategy == "default", "trainer.strategy", self.trainer.strategy,
                  "default with data=numbers")
            check(not self.trainer.freeze_features, "trainer.freeze_features",
                  self.trainer.freeze_features, "false with data=numbers")
        monitors = NUMBER_MONITORS if numbers else DIGIT_MONITORS
        monitor = self.trainer.early_stopping.monitor
        check(monitor in monitors, "trainer.early_stopping.monitor", monitor,
              "one of " + ", ".join(monitors) + (" (data=numbers)" if numbers else ""))

    @property
    def training_seed(self) -> int:
        """The seed of the weights' start, shuffling and augmentation (trainer.seed or seed)."""
        return self.seed if self.trainer.seed is None else self.trainer.seed


def check_task(data: Any, model: Any) -> bool:
    """Whether the run reads whole numbers; a digit model with number data, or the reverse, is
    refused (before any data loads)."""
    numbers, sequence = isinstance(data, NumbersDataConfig), isinstance(model, CrnnConfig)
    digit_models = ", ".join(name for name in MODEL_SCHEMAS if name not in SEQUENCE_MODELS)
    digit_data = ", ".join(name for name in DATA_OPTIONS if name != "numbers")
    if numbers != sequence:
        chosen = (f"model={model.name} with data=numbers" if numbers
                  else f"model={model.name} with digit data")
        raise ConfigError(f"{chosen} is invalid: whole numbers (data=numbers) need "
                          f"model={' or '.join(SEQUENCE_MODELS)}; single digits (data={digit_data})"
                          f" need a digit model ({digit_models})")
    return numbers


# Keys of metrics.json a sweeper may optimise: validation only (higher is better); choosing on
# the test set would make its figures optimistic. The first is the default.
DIGIT_METRICS = ("best_val_accuracy", "val_accuracy")
NUMBER_METRICS = ("best_val_exact_accuracy", "val_exact_accuracy")
OPTIMIZABLE_METRICS = DIGIT_METRICS + NUMBER_METRICS
DATA_OPTIONS = ("mnist", "npz", "folder", "handwriting", "numbers")  # conf/data

# Group options renamed in digits 0.1: the old name is a thin alias in conf/ for one release.
RENAMED_OPTIONS = {
    "augmentation": {"seed": "article"},  # it sat beside the top-level seed= key
    "trainer": {"fast": "smoke"},  # it collided with experiment=fast, a recipe
    "model": {"convnet": "cnn_gap"},  # it sat beside cnn, saying nothing of the difference
}


def renamed_option_warnings(choices: Mapping[str, Any]) -> list[str]:
    """Hydra's runtime.choices -> one line for each old option name chosen, naming the new one."""
    return [f"{group}={old} is deprecated and will be removed in the next release: "
            f"use {group}={new}"
            for group, renames in RENAMED_OPTIONS.items()
            for old, new in renames.items() if choices.get(group) == old]


def required(key: str):
    """${required:KEY}, the one way a config marks a value the user must give (data=npz,
    data=folder, experiment=finetune). A ??? cannot: merged over a schema's default it leaves the
    default in place, so the run would silently go on without the value."""
    raise ConfigError(f"{key} is required: add {key}=... to the command")


def register_configs() -> None:
    # resume=RUN_DIR runs in that folder and keeps its saved .hydra/ (the original config).
    if not OmegaConf.has_resolver("run_dir_or"):
        OmegaConf.register_new_resolver("required", required)
        OmegaConf.register_new_resolver("run_dir_or", lambda resume, new: resume or new)
        OmegaConf.register_new_resolver("hydra_subdir_unless",
                                        lambda resume: None if resume else ".hydra")
        # ${under:BASE,PATH}: PATH as given if absolute, else inside BASE (~ expanded)
        OmegaConf.register_new_resolver(
            "under", lambda base, path: str(Path(base) / Path(path).expanduser()))
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=TrainConfig)
    for name, schema in MODEL_SCHEMAS.items():
        cs.store(group="schema/model", name=name, node=schema)
    for name, schema in DATA_SCHEMAS.items():
        cs.store(group="schema/data", name=name, node=schema)


def to_objects(cfg: DictConfig) -> TrainConfig:
    """Composed config -> dataclasses, running every range check (raises ConfigError)."""
    try:
        return OmegaConf.to_object(cfg)
    except InterpolationResolutionError as error:  # ${required:KEY} left unset
        cause = error
        while cause is not None and not isinstance(cause, ConfigError):
            cause = cause.__cause__ or cause.__context__  # OmegaConf wraps it more than once
        if cause is None:
            raise
        raise ConfigError(str(cause)) from None
