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

import sys
from pathlib import Path

import keras

from digits import cli
from digits.config import schemas
from digits.data import datasets
from digits.data.numbers import composed, fixed_sets
from digits.evaluation import scores
from digits.models import ensembles, model_files
from digits.training import train_numbers
from digits.vision import mnist_style

MAX_MEMBERS = 8


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


def make(paths: list[Path], output: Path) -> dict:
    """Build, measure and save the ensemble of the models at `paths` in the folder `output`."""
    members = [model_files.load(path) for path in paths]
    reads_numbers = ensembles.check_members(paths, members)
    model = ensembles.build(members)
    versions = {}
    if reads_numbers:
        sets = fixed_numbers(*ensembles.run_data(paths[0]))
        measure = lambda m: number_accuracies(m, sets)  # noqa: E731
        # what the members were trained on, not this code's versions
        versions = {"preprocessing_version": ensembles.shared_version(
                        paths, "preprocessing_version", mnist_style.PREPROCESSING_VERSION),
                    "line_version": ensembles.shared_version(paths, "line_version", 1)}
    else:
        splits = datasets.load(*ensembles.run_data(paths[0]))
        measure = lambda m: scores.accuracies(m, splits)  # noqa: E731
    member_metrics = [{"model": str(model_files.resolve(path)), **measure(member)}
                      for path, member in zip(paths, members)]
    metrics = {**measure(model), "parameters": model.count_params(), **versions,
               "weights": "members' saved weights, probabilities averaged",
               "members": member_metrics}
    ensembles.save(output, model, metrics, paths[0])
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
