"""Schemas of the model config group (model=mlp, cnn, cnn_gap, resnet, crnn).

digits.config.schemas registers them in Hydra's ConfigStore with the other groups' schemas; as there,
ranges are checked in ``__post_init__`` (config_checks.check raises ConfigError).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

from digits.config.checks import check


def check_filters(filters: List[int]) -> None:
    check(1 <= len(filters) <= 3 and min(filters) >= 1, "model.filters", filters,
          "1 to 3 sizes >= 1 (each block halves 28x28)")


def check_dropout(name: str, dropout: float) -> None:
    check(0 <= dropout < 1, f"model.dropout ({name})", dropout, "in [0, 1)")


@dataclass
class MlpConfig:
    name: str = "mlp"
    hidden_units: List[int] = field(default_factory=lambda: [256, 128, 64])
    batch_norm: bool = True
    dropout: float = 0.0

    def __post_init__(self) -> None:
        check(len(self.hidden_units) >= 1 and min(self.hidden_units) >= 1, "model.hidden_units",
              self.hidden_units, "a non-empty list of sizes >= 1")
        check_dropout(self.name, self.dropout)


@dataclass
class CnnConfig:
    name: str = "cnn"
    filters: List[int] = field(default_factory=lambda: [32, 64])  # one block per size
    convs_per_block: int = 2
    dense_units: int = 128
    dropout: float = 0.1

    def __post_init__(self) -> None:
        check_filters(self.filters)
        check(self.convs_per_block >= 1, "model.convs_per_block", self.convs_per_block, ">= 1")
        check(self.dense_units >= 1, "model.dense_units", self.dense_units, ">= 1")
        check_dropout(self.name, self.dropout)


@dataclass
class CnnGapConfig:
    """model=cnn_gap (formerly convnet): a CNN whose head is global average pooling, no dense
    layer."""
    name: str = "cnn_gap"
    filters: List[int] = field(default_factory=lambda: [32, 64, 128])  # one block per size
    convs_per_block: int = 2
    dropout: float = 0.25  # after every block and before the classifier

    def __post_init__(self) -> None:
        check_filters(self.filters)
        check(self.convs_per_block >= 1, "model.convs_per_block", self.convs_per_block, ">= 1")
        check_dropout(self.name, self.dropout)


@dataclass
class ResnetConfig:
    name: str = "resnet"
    filters: List[int] = field(default_factory=lambda: [32, 64, 128])  # one stage per size
    blocks_per_stage: int = 2
    dropout: float = 0.2  # before the classifier

    def __post_init__(self) -> None:
        check(1 <= len(self.filters) <= 3 and min(self.filters) >= 1, "model.filters",
              self.filters, "1 to 3 sizes >= 1 (each later stage halves the size)")
        check(self.blocks_per_stage >= 1, "model.blocks_per_stage", self.blocks_per_stage, ">= 1")
        check_dropout(self.name, self.dropout)


@dataclass
class CrnnConfig:
    """model=crnn (digits/models/crnn.py): reads a whole number from a line of ink, with CTC."""
    name: str = "crnn"
    height: int = 32  # the line height vision.to_line gives
    # One conv block each: the first two halve both sides (4 columns per step), the rest the height
    filters: List[int] = field(default_factory=lambda: [32, 64, 128])
    # The last this many blocks have two 3x3 convs instead of one: depth where the map is small
    paired_blocks: int = 0
    head: str = "gru"  # gru or lstm (bidirectional), or conv (1-D convolutions)
    units: int = 96
    dropout: float = 0.2

    def __post_init__(self) -> None:
        check(2 <= len(self.filters) <= 4 and min(self.filters) >= 1, "model.filters",
              self.filters, "2 to 4 sizes >= 1 (the first two blocks set 4 columns per step)")
        check(self.height >= 1 and self.height % 2 ** len(self.filters) == 0, "model.height",
              self.height, f"a multiple of {2 ** len(self.filters)} (each block halves it)")
        check(0 <= self.paired_blocks <= len(self.filters), "model.paired_blocks",
              self.paired_blocks, f"0 to {len(self.filters)} (the number of blocks)")
        check(self.head in ("gru", "lstm", "conv"), "model.head", self.head, "gru, lstm or conv")
        check(self.units >= 1, "model.units", self.units, ">= 1")
        check_dropout(self.name, self.dropout)


MODEL_SCHEMAS = {"mlp": MlpConfig, "cnn": CnnConfig, "cnn_gap": CnnGapConfig,
                 "resnet": ResnetConfig, "crnn": CrnnConfig}
SEQUENCE_MODELS = ("crnn",)  # the models that read whole numbers (data=numbers)
