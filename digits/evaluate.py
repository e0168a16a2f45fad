"""Measure a trained model: `digits-evaluate --model RUN_DIR [--data FILE.npz | DIR]`.

Test accuracy and loss, accuracy on inverted digits, per-class precision / recall / F1, a confusion
matrix, a gallery of the most confident mistakes and calibration (expected calibration error and a
reliability diagram). On the run's own test split they go to RUN_DIR/evaluation.json,
RUN_DIR/plots and RUN_DIR/tensorboard/evaluation; with --data PATH to
RUN_DIR/evaluations/NAME/ (NAME: the data's file or folder name), never over the run's own.
With --robustness: the robustness suite (docs/robustness.md) in RUN_DIR/evaluations/robustness/.
A sequence model (model=crnn) is measured on the fixed synthetic test numbers instead
(digits/evaluation/evaluate_numbers.py): exact-number accuracy and CER by length and spacing,
misread numbers. The measuring is digits/evaluation/scores.py's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import keras

from digits import cli
from digits.models import model_option
from digits.data import datasets
from digits.evaluation import evaluate_numbers, robustness, scores
from digits.models import crnn, model_files

EXAMPLES = """\
  digits-evaluate --model outputs/2026-01-01/12-00-00
      the run's own test split: RUN/evaluation.json, RUN/plots/*.png
  digits-evaluate --model RUN --data other.npz
      the test arrays of other.npz: RUN/evaluations/other/
  digits-evaluate --model RUN --data my_digits/
      every photo in my_digits/0 .. my_digits/9: RUN/evaluations/my_digits/
  digits-evaluate --model RUN --robustness [--split test]
      the robustness suite (docs/robustness.md): RUN/evaluations/robustness/validation/
  digits-evaluate --model CRNN_RUN
      a sequence model, on the fixed synthetic numbers: RUN/evaluation.json, plots/errors.png"""


PROG = "digits-evaluate"


def build_parser() -> cli.Parser:
    parser = cli.Parser(PROG, __doc__.strip(), EXAMPLES)
    model_option.add_model(parser, positional_deprecated=True)
    parser.add_argument("--data", metavar="PATH",
                        help="evaluate on the test arrays of this .npz, or on every photo in this "
                        "folder of sub-folders 0 .. 9, instead of the run's own test split")
    parser.add_argument("--overwrite", action="store_true",
                        help="beside a .keras file outside a run folder: replace an "
                        "evaluation.json or plots/ found there")
    parser.add_argument("--robustness", action="store_true",
                        help="measure the robustness suite instead: MNIST digits under 21 "
                        "corruptions, raw and as photos (docs/robustness.md)")
    parser.add_argument("--split", choices=("validation", "test"),
                        help="with --robustness: build the suite from this split (validation; "
                        "test only for a final report)")
    return parser


def robustness_command(model_path: Path, args) -> int:
    """--robustness: the logic is digits.evaluation.robustness's; this checks the options and
    prints."""
    if not args.robustness:
        raise cli.CommandError("--split goes with --robustness")
    if args.data is not None:
        raise cli.CommandError("--robustness measures MNIST's own split: leave out --data")
    split = args.split or "validation"
    try:
        folder = model_files.output_folder(model_path)
        out_dir = robustness.output_folder(model_path, split).relative_to(folder)
        cli.refuse_outside_run_folder(folder, [str(out_dir / name)
                                               for name in robustness.OUTPUT_FILES],
                                      args.overwrite)
        result, out_dir = robustness.run(model_path, split)
    except model_files.ModelLoadError as error:
        raise cli.CommandError(str(error), cli.USAGE) from None
    except datasets.DataError as error:
        raise cli.CommandError(str(error), cli.FAILED) from None
    print(robustness.table({folder.name: result}))
    print(f"\nWrote {', '.join(robustness.OUTPUT_FILES)} and tensorboard/ in {out_dir}")
    return cli.OK


def numbers_command(model_path: Path, model: keras.Model, args) -> int:
    """A sequence model: the fixed synthetic test numbers (digits.evaluation.evaluate_numbers)."""
    if args.robustness or args.split:
        raise cli.CommandError("--robustness measures single-digit models; this model reads "
                               "whole numbers (a sequence model)")
    if args.data is not None:
        raise cli.CommandError("a sequence model is measured on the fixed synthetic test numbers "
                               "only: leave out --data")
    folder = model_files.output_folder(model_path)
    cli.refuse_outside_run_folder(folder, evaluate_numbers.FILES, args.overwrite)
    try:
        result, out_dir = evaluate_numbers.run(model_path, model)
    except datasets.DataError as error:
        raise cli.CommandError(str(error), cli.FAILED) from None
    print(evaluate_numbers.report(result))
    print(f"\nWrote {' and '.join(evaluate_numbers.FILES)} in {out_dir}")
    return cli.OK


def command(args) -> int:
    model_path = model_option.model_path(PROG, args)
    try:
        model = model_files.load(model_path)
    except model_files.ModelLoadError as error:
        raise cli.CommandError(str(error), cli.USAGE) from None
    if crnn.is_sequence_model(model):
        return numbers_command(model_path, model, args)
    if args.robustness or args.split:
        return robustness_command(model_path, args)
    try:
        folder = model_files.output_folder(model_path)
        out_dir = scores.output_folder(folder, args.data).relative_to(folder)
        cli.refuse_outside_run_folder(folder, [str(out_dir / name) for name in scores.FILES],
                                      args.overwrite)
        result, out_dir = scores.run(model_path, args.data, model)
    except model_files.ModelLoadError as error:
        raise cli.CommandError(str(error), cli.USAGE) from None
    except datasets.DataError as error:
        raise cli.CommandError(str(error), cli.FAILED) from None
    print(scores.report(result))
    print(f"\nWrote evaluation.json and plots/confusion_matrix.png, errors.png, reliability.png "
          f"in {out_dir}")
    return cli.OK


def main(argv: list[str] | None = None) -> int:
    return cli.run(PROG, lambda: command(build_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
