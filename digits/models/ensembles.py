"""Ensembles (digits-ensemble): one saved model that averages its members' outputs
(keras.layers.Average over the members, each a sub-model), a plain functional Keras model that
plain Keras loads with safe_mode=True; the checks that its members may be averaged (one data
split, one kind of reader, one kind of line), and its folder.
"""

from __future__ import annotations

from pathlib import Path

import keras

from digits.config.schemas import DataConfig
from digits.models import crnn, model_files, model_folder
from digits.runs import metadata


def build(members: list[keras.Model]) -> keras.Model:
    """Members with the same input -> one model whose output is their mean probability."""
    if len(members) < 2:
        raise ValueError("an ensemble needs at least 2 members")
    shapes = {tuple(member.input_shape[1:]) for member in members}
    if len(shapes) != 1:
        raise ValueError(f"the members take different inputs: {sorted(shapes)}")
    inputs = keras.Input(shapes.pop())
    outputs = []
    for index, trained in enumerate(members):
        # A clone holds the weights without the optimizer's state, and gets a name unique in
        # the ensemble.
        member = type(trained).from_config(trained.get_config())
        member.set_weights(trained.get_weights())
        member.name = f"member_{index}_{trained.name}"
        member.trainable = False
        outputs.append(member(inputs))
    averaged = keras.layers.Average(name="mean_probability")(outputs)
    return keras.Model(inputs, averaged, name=f"{model_files.ENSEMBLE_PREFIX}_of_{len(members)}")


def run_data(path: Path) -> tuple[DataConfig, int]:
    """The data config and seed a member's run was trained with (MNIST and the default seed if
    unknown), so its validation images are ones it did not learn from."""
    run = metadata.run_config(model_files.resolve(path).parent)
    return metadata.data(run), metadata.seed(run)


# What decides a run's train/validation/test split; training options (photos, hands, outlines,
# widths, pools...) may differ between members, their split may not.
SPLIT_KEYS = ("source", "path", "val_size", "train_size", "test_size", "val_fraction",
              "test_fraction")


def split_of(path: Path) -> tuple:
    """The member's split: its run's seed and the data options that decide the split."""
    cfg, seed = run_data(path)
    return seed, tuple((key, getattr(cfg, key)) for key in SPLIT_KEYS if hasattr(cfg, key))


def shared_version(paths: list[Path], key: str, default: int) -> int:
    """The version `key` (line_version, preprocessing_version) in every member's metrics.json
    (`default` where it is missing); refuses a mix."""
    versions = {metadata.metrics(model_files.resolve(path).parent).get(key, default)
                for path in paths}
    if len(versions) > 1:
        raise ValueError(f"the members read different lines ({key} {sorted(versions)}): "
                         "their probabilities do not mean the same thing")
    return versions.pop()


def check_members(paths: list[Path], members: list[keras.Model]) -> bool:
    """Refuse (ValueError) members that may not be averaged; whether they read whole numbers."""
    if len({split_of(path) for path in paths}) > 1:
        raise ValueError("the members were trained on different data splits or seeds, so no "
                         "validation split is unseen by all of them")
    reads_numbers = {crnn.is_sequence_model(member) for member in members}
    if len(reads_numbers) > 1:
        raise ValueError("some members read whole numbers (model=crnn) and others one digit")
    return reads_numbers.pop()


def save(output: Path, model: keras.Model, metrics: dict, first_member: Path) -> None:
    """DIR/model.keras, DIR/metrics.json and the run config the members share (checked by
    check_members): later commands draw the members' validation data."""
    model_folder.write(output, model, metrics, model_files.resolve(first_member).parent)
