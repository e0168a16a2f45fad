"""Export a trained model: `digits-export --model RUN_DIR --format {savedmodel,tflite}
[--output PATH]`.

The export is checked against the Keras model on MNIST test images before it is written: the
share of images on which both give the same digit is printed, and an export that agrees less than
`--min-agreement` is not written. A sequence model (model=crnn) is checked on synthetic test
numbers instead (the decoded numbers must agree); its TFLite export reads one line of a fixed
width, TFLITE_LINE_WIDTH (a SavedModel takes any width), and has no --int8. Without --output it
goes into the model's folder (model.tflite, model_int8.tflite or saved_model/, replaced by a new
export). An --output that
already exists is never replaced without --overwrite, and a folder holding anything but a
SavedModel is never replaced at all.
"""

from __future__ import annotations

import sys
from pathlib import Path

from digits import cli
from digits.models import model_option
from digits.models import model_files
from digits.models.export import UnsupportedExport, default_output, export


def check_output(output: Path, fmt: str, overwrite: bool) -> None:
    """Refuse, before any work, an --output the export may not replace (cli.CommandError)."""
    if fmt == "tflite" and output.is_dir():
        raise cli.CommandError(f"--output {output} is a folder; a tflite export is one file")
    if fmt == "savedmodel" and output.is_file():
        raise cli.CommandError(f"--output {output} is a file; a SavedModel is a folder")
    if (fmt == "savedmodel" and output.is_dir() and any(output.iterdir())
            and not (output / "saved_model.pb").is_file()):
        raise cli.CommandError(f"--output {output} is a folder with other files in it, not a "
                               "SavedModel: choose a new or empty folder")
    cli.refuse_existing(output, overwrite, "--output")


EXAMPLES = """\
  digits-export --model RUN --format tflite
      RUN/model.tflite
  digits-export --model RUN --format tflite --int8 --output phone/digits.tflite
  digits-export --model RUN --format savedmodel --output serving/digits/1
  digits-export --model RUN --format savedmodel --output serving/digits/1 --overwrite
      replaces the SavedModel exported there before"""

PROG = "digits-export"


def build_parser() -> cli.Parser:
    parser = cli.Parser(PROG, __doc__.strip(), EXAMPLES)
    model_option.add_model(parser, positional_deprecated=True)
    parser.add_argument("--format", choices=("savedmodel", "tflite"), required=True,
                        help="a TensorFlow SavedModel folder (TF Serving) or a .tflite file")
    parser.add_argument("--output", type=Path, metavar="PATH",
                        help="file (tflite) or folder (savedmodel); default: beside the model")
    parser.add_argument("--int8", action="store_true", help="tflite: int8 quantisation")
    parser.add_argument("--min-agreement", type=float, metavar="SHARE",
                        help="refuse exports agreeing less (default 0.999; 0.99 with --int8)")
    cli.add_overwrite(parser)
    return parser


def command(parser: cli.Parser, args) -> int:
    if args.int8 and args.format != "tflite":
        parser.error("--int8 goes with --format tflite")
    model_path = model_option.model_path(PROG, args)
    try:
        default = default_output(model_path, args.format, args.int8)
    except model_files.ModelLoadError as error:
        raise cli.CommandError(str(error), cli.USAGE) from None
    if args.output is not None:
        check_output(args.output, args.format, args.overwrite)
    else:
        cli.refuse_outside_run_folder(default.parent, [default.name], args.overwrite)
    min_agreement = args.min_agreement or (0.99 if args.int8 else 0.999)
    try:
        output, share, checked_on = export(model_path, args.format, args.output, args.int8,
                                           min_agreement)
    except (model_files.ModelLoadError, UnsupportedExport) as error:
        raise cli.CommandError(str(error), cli.USAGE) from None
    except ValueError as error:  # the export disagrees with the model: nothing was written
        raise cli.CommandError(str(error), cli.FAILED) from None
    print(f"agreement with the Keras model: {share:.2%} of {checked_on}")
    print(f"wrote {output}")
    return cli.OK


def main(argv: list[str] | None = None) -> int:
    parser_ = build_parser()
    return cli.run(PROG, lambda: command(parser_, parser_.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
