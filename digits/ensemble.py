"""Ensembles: `digits-ensemble --model RUN --model RUN [...] --output DIR`.

One saved model that averages its members' class probabilities (keras.layers.Average over the
members, each a sub-model): a plain functional Keras model, so every command takes DIR like a run
folder and plain Keras loads it with safe_mode=True. DIR gets model.keras and a metrics.json with
the ensemble's and each member's accuracy on the validation split (what to choose on) and on the
test split (the outcome), and the members' run config (.hydra/config.yaml: their data and seed,
which every member shares), so later commands draw the members' validation data.

Whole-number readers (model=crnn, output (T, 11)) ensemble the same way: the mean of the
members' per-step distributions. They are measured on the run's fixed validation numbers and
fixed test set (exact-number accuracy and CER), and must have read the same kind of line
(metrics.json's line_version).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import keras
from omegaconf import OmegaConf

from digits import cli, evaluate
from digits.calibration import digit_calibration
from digits.config import schemas
from digits.data import datasets
from digits.models import model_files
from digits.data.numbers import fixed_sets
from digits.data.numbers import composed
from digits.models import crnn
from digits.training import train_numbers
from digits.vision import mnist_style
from digits.config.schemas import DataConfig

MAX_MEMBERS = 8


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


def accuracies(model: keras.Model, splits: datasets.Splits) -> dict:
    val = evaluate.evaluate(model, splits.x_val, splits.y_val)["test_accuracy"]
    test = evaluate.evaluate(model, splits.x_test, splits.y_test)
    return {"val_accuracy": val, "test_accuracy": test["test_accuracy"],
            "inverted_test_accuracy": test["inverted_test_accuracy"]}


def run_data(path: Path) -> tuple[DataConfig, int]:
    """The data config and seed a member's run was trained with (MNIST and seed 42 if unknown),
    so its validation images are ones it did not learn from."""
    saved = model_files.resolve(path).parent / ".hydra" / "config.yaml"
    if not saved.is_file():
        return DataConfig(), 42
    run = OmegaConf.load(saved)
    return schemas.data_config(run.get("data", {})), run.get("seed", 42)


# What decides a run's train/validation/test split; training options (photos, hands, outlines,
# widths, pools...) may differ between members, their split may not.
SPLIT_KEYS = ("source", "path", "val_size", "train_size", "test_size", "val_fraction",
              "test_fraction")


def split_of(path: Path) -> tuple:
    """The member's split: its run's seed and the data options that decide the split."""
    cfg, seed = run_data(path)
    return seed, tuple((key, getattr(cfg, key)) for key in SPLIT_KEYS if hasattr(cfg, key))


def fixed_numbers(cfg: schemas.NumbersDataConfig, seed: int) -> dict:
    """The run's fixed validation numbers and fixed test set, (lines, labels) each, drawn once
    and read by every member and the ensemble."""
    splits = datasets.load(cfg, seed)
    x, y = composed.split_arrays(splits, "test")
    return {"val": train_numbers.validation_set(splits, cfg),
            "test": fixed_sets.fixed_set(x, y, cfg.test_count)[:2]}


def number_accuracies(model: keras.Model, sets: dict) -> dict:
    val = train_numbers.measure(model, *sets["val"])
    test = train_numbers.measure(model, *sets["test"])
    return {"val_exact_accuracy": val["exact_accuracy"], "val_cer": val["cer"],
            "test_exact_accuracy": test["exact_accuracy"], "test_cer": test["cer"]}


def shared_version(paths: list[Path], key: str, default: int) -> int:
    """The version `key` (line_version, preprocessing_version) in every member's metrics.json
    (`default` where it is missing); refuses a mix."""
    versions = {digit_calibration.run_metrics(path).get(key, default) for path in paths}
    if len(versions) > 1:
        raise ValueError(f"the members read different lines ({key} {sorted(versions)}): "
                         "their probabilities do not mean the same thing")
    return versions.pop()


def make(paths: list[Path], output: Path) -> dict:
    """Build, measure and save the ensemble of the models at `paths` in the folder `output`."""
    members = [model_files.load(path) for path in paths]
    if len({split_of(path) for path in paths}) > 1:
        raise ValueError("the members were trained on different data splits or seeds, so no "
                         "validation split is unseen by all of them")
    reads_numbers = {crnn.is_sequence_model(member) for member in members}
    if len(reads_numbers) > 1:
        raise ValueError("some members read whole numbers (model=crnn) and others one digit")
    model = build(members)
    versions = {}
    if reads_numbers.pop():
        sets = fixed_numbers(*run_data(paths[0]))
        measure = lambda m: number_accuracies(m, sets)  # noqa: E731
        # what the members were trained on, not this code's versions
        versions = {"preprocessing_version": shared_version(paths, "preprocessing_version",
                                                            mnist_style.PREPROCESSING_VERSION),
                    "line_version": shared_version(paths, "line_version", 1)}
    else:
        splits = datasets.load(*run_data(paths[0]))
        measure = lambda m: accuracies(m, splits)  # noqa: E731
    member_metrics = [{"model": str(model_files.resolve(path)), **measure(member)}
                      for path, member in zip(paths, members)]
    metrics = {**measure(model), "parameters": model.count_params(), **versions,
               "weights": "members' saved weights, probabilities averaged",
               "members": member_metrics}
    output.mkdir(parents=True, exist_ok=True)
    model.save(output / model_files.MODEL_FILE)
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    run_config = model_files.resolve(paths[0]).parent / digit_calibration.RUN_CONFIG
    if run_config.is_file():  # the data and seed every member shares (checked above)
        (output / digit_calibration.RUN_CONFIG).parent.mkdir(exist_ok=True)
        shutil.copy(run_config, output / digit_calibration.RUN_CONFIG)
    return metrics


def summary(metrics: dict) -> list[str]:
    """The lines digits-ensemble prints: each member's validation and test figures, then the
    ensemble's."""
    def figures(m: dict) -> str:
        if "val_exact_accuracy" in m:
            return (f"val exact {m['val_exact_accuracy']:.4f}  test exact "
                    f"{m['test_exact_accuracy']:.4f} (CER {m['test_cer']:.4f})")
        return f"val {m['val_accuracy']:.4f}  test {m['test_accuracy']:.4f}"

    lines = [f"member   {figures(m)}  {m['model']}" for m in metrics["members"]]
    inverted = (f"  (inverted {metrics['inverted_test_accuracy']:.4f})"
                if "inverted_test_accuracy" in metrics else "")
    return lines + [f"ensemble {figures(metrics)}{inverted}"]


EXAMPLES = """\
  digits-ensemble --model outputs/run1 --model outputs/run2 --output ensembles/two
  digits-predict --model ensembles/two photo.jpg
  digits-evaluate --model ensembles/two"""

PROG = "digits-ensemble"


def build_parser() -> cli.Parser:
    parser = cli.Parser(PROG, __doc__.strip(), EXAMPLES)
    parser.add_argument("--model", action="append", required=True, metavar="PATH",
                        help=f"a member: a run folder or a .keras file (2 to {MAX_MEMBERS} times)")
    parser.add_argument("--output", type=Path, required=True, metavar="DIR",
                        help="the folder to write model.keras and metrics.json to (new or empty)")
    cli.add_overwrite(parser)
    return parser


def command(parser: cli.Parser, args) -> int:
    if not 2 <= len(args.model) <= MAX_MEMBERS:
        parser.error(f"give 2 to {MAX_MEMBERS} --model members (got {len(args.model)})")
    cli.refuse_existing(args.output, args.overwrite, "--output")
    try:
        metrics = make([Path(p) for p in args.model], args.output)
    except (model_files.ModelLoadError, ValueError) as error:
        raise cli.CommandError(str(error)) from None
    print("\n".join(summary(metrics)))
    print(f"wrote {args.output / model_files.MODEL_FILE}")
    return cli.OK


def main(argv: list[str] | None = None) -> int:
    parser_ = build_parser()
    return cli.run(PROG, lambda: command(parser_, parser_.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
