"""Prepare a trained model for shipping: `digits-calibrate --model RUN --output DIR`.

A single-digit model: fits a temperature on the validation photo path (every validation digit
photographed and read back as digits-predict reads a photo; never the test split), bakes it into
the model with built-in Keras layers (Rescaling, Softmax), and chooses the confidence below which
a reading is flagged unsure. A sequence model (whole numbers): no temperature (its confidence is
a CTC probability of the whole number), only the whole-number confidence below which a reading
is flagged, chosen on fixed validation numbers. DIR gets model.keras (no optimizer state),
metrics.json (the run's metrics plus unsure_below, the temperature, the validation figures) and
COMMAND.md. The logic is digits/calibration/digit_calibration.py's and
digits/calibration/number_calibration.py's; docs/robustness.md and docs/numbers.md explain it.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from digits import cli
from digits.models import model_option
from digits.calibration import digit_calibration, number_calibration
from digits.calibration.digit_calibration import CalibrationError
from digits.data import datasets
from digits.models import crnn, model_files

EXAMPLES = """\
  digits-calibrate --model outputs/2026-01-01/12-00-00 --output shipped/digit_reader
  digits-calibrate --model ensembles/two --output ensembles/two_calibrated
  digits-calibrate --model outputs/numbers_run --output shipped/number_reader
  digits-predict --model shipped/digit_reader photo.jpg"""

PROG = "digits-calibrate"


def build_parser() -> cli.Parser:
    parser = cli.Parser(PROG, __doc__.strip(), EXAMPLES)
    model_option.add_model(parser)
    parser.add_argument("--output", type=Path, required=True, metavar="DIR",
                        help="the folder to write model.keras, metrics.json and COMMAND.md to "
                        "(new or empty)")
    cli.add_overwrite(parser)
    return parser


def command(args, argv: list[str]) -> int:
    model_path = model_option.model_path(PROG, args)
    cli.refuse_existing(args.output, args.overwrite, "--output")
    try:
        source = model_files.resolve(model_path)
    except model_files.ModelLoadError as error:
        raise cli.CommandError(str(error)) from None
    if args.output.resolve() == source.parent.resolve():
        raise cli.CommandError("--output must not be the model's own folder: the calibrated "
                               "model goes beside, never over, the model it came from")
    made_with = shlex.join([PROG, *argv])
    try:
        model = model_files.load(model_path)
        if crnn.is_sequence_model(model):
            metrics = number_calibration.calibrate(model_path, args.output, made_with, model)
            report = report_numbers
        else:
            metrics = digit_calibration.calibrate(model_path, args.output, made_with, model)
            report = report_digits
    except (model_files.ModelLoadError, CalibrationError) as error:
        raise cli.CommandError(str(error)) from None
    except datasets.DataError as error:
        raise cli.CommandError(str(error), cli.FAILED) from None
    report(metrics)
    fit = metrics["calibration"]
    if not fit["target_met"]:
        print(f"{PROG}: no cut leaves accuracy >= {fit['target_accuracy']} with at most "
              f"{fit['max_flagged']:.0%} flagged: this is the best trade-off within "
              f"{fit['max_flagged']:.0%}", file=sys.stderr)
    print(f"wrote {', '.join(digit_calibration.OUTPUT_FILES)} in {args.output}")
    return cli.OK


def report_digits(metrics: dict) -> None:
    fit = metrics["calibration"]
    print(f"temperature {metrics['temperature']:.4f}  (NLL {fit['nll_before']:.4f} -> "
          f"{fit['nll_after']:.4f} on {fit['images']} validation photos, "
          f"{fit['unreadable']} unreadable)")
    print(f"ECE {fit['ece_before']:.4f} -> {fit['ece_after']:.4f}   accuracy {fit['accuracy']:.4f}")
    print(f"unsure below {metrics['unsure_below']:.4f}: {fit['flagged_share']:.2%} flagged, "
          f"accuracy {fit['unflagged_accuracy']:.4f} on the others")


def report_numbers(metrics: dict) -> None:
    fit = metrics["calibration"]
    print(f"sequence model: no temperature (its confidence is the whole number's CTC "
          f"probability); {fit['numbers']} validation numbers, exact {fit['exact_accuracy']:.4f}, "
          f"ECE {fit['expected_calibration_error']:.4f}")
    print(f"unsure below {metrics['unsure_below']:.4g}: {fit['flagged_share']:.2%} flagged, "
          f"exact {fit['unflagged_accuracy']:.4f} on the others")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return cli.run(PROG, lambda: command(build_parser().parse_args(argv), argv))


if __name__ == "__main__":
    sys.exit(main())
