"""Read photos of digits: `digits-predict --model MODEL [--number] INPUT...`: photos -> digits.

The reading is digits.reading.digit_reader's (its Python API: read_digits, read_number,
read_files); this prints the readings as a table and writes them as JSON, CSV or a figure.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from digits import cli
from digits.models import model_option
from digits.evaluation import plots
from digits.models import crnn, model_files
from digits.reading import number_reader
from digits.reading.digit_reader import MIN_CONFIDENCE, Reading, expand_inputs, read_files
from digits.runs import metadata

def table(readings: list[Reading], number: bool) -> str:
    width = max([len(r.path) for r in readings] + [4])
    lines = [f"{'file':<{width}}  {'prediction':>10}  confidence  top-3 / error"]
    for r in readings:
        answer = (r.number or "(none)") if number else r.digit  # a line read as no digit
        if r.error:
            lines.append(f"{r.path:<{width}}  {'-':>10}  {'-':>10}  error: {r.error}")
            continue
        top3 = " ".join(f"{t['digit']}:{t['confidence']:.2f}" for t in r.top3 or r.digits)
        flag = ("  (low confidence)" if r.low_confidence else "") + \
            (f"  ({r.warning})" if r.warning else "")
        lines.append(f"{r.path:<{width}}  {answer!s:>10}  {r.confidence:10.3f}  {top3}{flag}")
    return "\n".join(lines)


OUTPUT_OPTIONS = ("json", "csv", "plot")


def write_outputs(readings: list[Reading], args: argparse.Namespace) -> None:
    if args.json:
        Path(args.json).write_text(json.dumps([r.to_json(args.number) for r in readings],
                                              indent=2) + "\n")
    if args.csv:
        with open(args.csv, "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["path", "prediction", "confidence", "low_confidence", "error",
                             "digit_confidences"])
            for r in readings:
                writer.writerow([r.path, r.number if args.number else r.digit,
                                 f"{r.confidence:.4f}", r.low_confidence, r.error or "",
                                 " ".join(f"{d['confidence']:.4f}" for d in r.digits or [])])
    if args.plot:
        plots.save(plots.predictions(readings, args.number), Path(args.plot))


EXAMPLES = """\
  digits-predict --model RUN photo.jpg
  digits-predict --model RUN my_digits/ "scans/*.png" --json readings.json
  digits-predict --model RUN --number receipt.jpg --plot what_it_saw.png
  digits-predict --model CRNN_RUN --number numbers/ --json numbers.json
  digits-predict --model model.keras photo.jpg --csv readings.csv --overwrite"""

PROG = "digits-predict"


def build_parser() -> cli.Parser:
    parser = cli.Parser(PROG, "Read handwritten digits in photos: one digit per photo, or a "
                        "number per photo with --number.", EXAMPLES)
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or globs")
    model_option.add_model(parser)
    parser.add_argument("--number", action="store_true",
                        help="each photo holds a number: read all its digits, left to right "
                        "(whole, with a sequence model; else digit by digit); without --model, "
                        "the shipped number reader, else the shipped digit reader")
    parser.add_argument("--json", metavar="FILE", help="write the readings as JSON to this file")
    parser.add_argument("--csv", metavar="FILE", help="write the readings as CSV to this file")
    parser.add_argument("--plot", metavar="FILE",
                        help="write a figure: each photo, what the model saw, the answer")
    parser.add_argument("--min-confidence", type=float, metavar="P",
                        help="mark answers below this confidence (default per digit: "
                        "unsure_below from the metrics.json of a model made by digits-"
                        f"calibrate, else {MIN_CONFIDENCE}; a sequence model's whole number: "
                        "unsure_below from the metrics.json beside it, else "
                        f"{number_reader.UNSURE_BELOW})")
    cli.add_overwrite(parser)
    return parser


def command(args: argparse.Namespace) -> int:
    for option in OUTPUT_OPTIONS:  # before any work: a refused output costs nothing
        if getattr(args, option):
            cli.refuse_existing(Path(getattr(args, option)), args.overwrite, f"--{option}")
    kind = "number" if args.number else "digit"
    model = model_option.load_model(PROG, args, kind)
    model_path = model_option.model_path(PROG, args, kind)
    min_confidence = args.min_confidence
    if crnn.is_sequence_model(model):
        if not args.number:
            raise cli.CommandError("this model reads whole numbers (a sequence model): add "
                                   "--number, or give a single-digit model")
        if min_confidence is None:
            min_confidence = number_reader.unsure_below(model_path)
    elif min_confidence is None:  # a calibrated digit model's cut (digits-calibrate)
        min_confidence = metadata.unsure_below(model_files.resolve(model_path).parent,
                                               MIN_CONFIDENCE)
    paths = expand_inputs(args.inputs)
    readings = read_files(model, paths, args.number, min_confidence,
                          progress=len(paths) > 20 and sys.stderr.isatty())
    print(table(readings, args.number))
    write_outputs(readings, args)
    failed = sum(r.unreadable for r in readings)
    if failed:
        cli.print_error(PROG, f"{failed} of {len(readings)} inputs could not be read")
    return cli.FAILED if failed else cli.OK


def main(argv: list[str] | None = None) -> int:
    return cli.run(PROG, lambda: command(build_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
