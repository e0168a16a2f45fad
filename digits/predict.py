"""Read photos of digits: `digits-predict --model MODEL [--number] INPUT...`: photos -> digits.

The Python API: `read_digits(model, images)` for decoded single-digit photos, `read_number(model,
image)` for a photo of a number, `read_files(model, paths, ...)` for files (what the CLI prints).
A number is read whole by a sequence model (model=crnn: the photo's line of ink, digits.
number_reader), or cut into connected components whose digits a single-digit model reads.
"""

from __future__ import annotations

import argparse
import csv
import functools
import glob
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import keras
import numpy as np
import tensorflow as tf

from digits import cli
from digits.calibration import digit_calibration
from digits.reading import number_reader
from digits.data import pipeline
from digits.models import crnn
from digits.vision import mnist_style
from digits.vision.image_files import IMAGE_SUFFIXES, decode

MIN_CONFIDENCE = 0.6


@dataclass
class Reading:
    """What was read from one input; `error` says why nothing was (then `digit` is None)."""

    path: str
    digit: int | None = None
    confidence: float = 0.0
    top3: list[dict] = field(default_factory=list)
    low_confidence: bool = False
    error: str | None = None
    number: str | None = None  # with --number: the digits read, left to right
    digits: list[dict] | None = None  # with --number: one reading per digit
    reader: str | None = None  # with --number: "sequence" (whole line) or "components"
    probabilities: list[float] | None = None  # all ten (per digit in `digits` with --number)
    image: np.ndarray | None = field(default=None, repr=False)  # what the model saw (28x28)
    unreadable: bool = False  # the file itself failed (missing, corrupt...), not just blank
    warning: str | None = None  # without --number: the photo seems to hold several digits

    def to_json(self, number: bool) -> dict:
        result = {key: value for key, value in asdict(self).items()
                  if key not in ("image", "unreadable")}
        if not number:
            del result["number"], result["digits"], result["reader"]
        else:
            del result["probabilities"], result["warning"]
        return result


@functools.cache
def inference(model: keras.Model):
    """The model as one compiled graph for any batch size: calling a Keras model eagerly runs
    it layer by layer, several times slower than the whole recipe for one small image."""
    return tf.function(lambda images: model(pipeline.normalise(images), training=False),
                       input_signature=[tf.TensorSpec([None, 28, 28], tf.uint8)])


def classify(model: keras.Model, images: list[np.ndarray]) -> np.ndarray:
    """uint8 (28, 28) MNIST-style images -> class probabilities (n, 10), in one batch."""
    if not images:
        return np.zeros((0, 10), np.float32)
    return inference(model)(np.stack(images)).numpy()


def describe(probabilities: np.ndarray, min_confidence: float) -> dict:
    top = np.argsort(probabilities)[::-1][:3]
    return {"digit": int(top[0]), "confidence": float(probabilities[top[0]]),
            "top3": [{"digit": int(d), "confidence": round(float(probabilities[d]), 4)}
                     for d in top],
            "low_confidence": bool(probabilities[top[0]] < min_confidence),
            "probabilities": [float(p) for p in probabilities]}


def prepare(image: np.ndarray, path: str, number: bool,
            line: bool = False) -> tuple[Reading, list[np.ndarray]]:
    """A decoded photo -> (its Reading, still without an answer; the 28x28 digits to classify,
    or with `line` the one line of ink a sequence model reads)."""
    try:
        if line:
            return Reading(path), [number_reader.line_of(image)]
        if number:
            return Reading(path), mnist_style.number_to_mnist(image)
        box, count = mnist_style.to_mnist_counting(image)
    except mnist_style.NoDigitError as error:
        return Reading(path, error=str(error)), []
    warning = f"looks like {count} digits: try --number" if count > 1 else None
    return Reading(path, warning=warning), [box]


def reads_lines(model: keras.Model, number: bool) -> bool:
    """Whether photos are read as whole lines: numbers, by a sequence model."""
    if crnn.is_sequence_model(model) and not number:
        raise ValueError("this model reads whole numbers (a sequence model): read with --number "
                         "(read_number)")
    return number and crnn.is_sequence_model(model)


def answer(model: keras.Model, prepared: list[tuple[Reading, list[np.ndarray]]], number: bool,
           min_confidence: float | None) -> list[Reading]:
    """Classify every prepared digit in one batch (or read every line) and fill in the readings.
    `min_confidence` None: MIN_CONFIDENCE per digit, number_reader.UNSURE_BELOW per line."""
    if reads_lines(model, number):
        lines = number_reader.read(model, [boxes[0] for _, boxes in prepared if boxes])
        return fill_in_lines(prepared, lines, number_reader.UNSURE_BELOW
                             if min_confidence is None else min_confidence)
    probabilities = classify(model, [box for _, boxes in prepared for box in boxes])
    return fill_in(prepared, probabilities, number,
                   MIN_CONFIDENCE if min_confidence is None else min_confidence)


def fill_in_lines(prepared: list[tuple[Reading, list[np.ndarray]]],
                  lines: list[crnn.Reading], min_confidence: float) -> list[Reading]:
    """The readings of whole lines, given the sequence model's reading of each prepared line."""
    lines = iter(lines)
    for reading, boxes in prepared:
        if boxes:
            line = next(lines)
            reading.number, reading.confidence = line.number, line.confidence
            reading.digits = number_reader.digit_details(line)
            reading.low_confidence = number_reader.is_flagged(line, min_confidence)
            reading.reader, reading.image = "sequence", boxes[0]
    return [reading for reading, _ in prepared]


def fill_in(prepared: list[tuple[Reading, list[np.ndarray]]], probabilities: np.ndarray,
            number: bool, min_confidence: float) -> list[Reading]:
    """The readings, given the probabilities of every prepared digit in order (the web server
    classifies many requests' digits in one model call, then fills in each request's)."""
    probabilities = iter(probabilities)
    for reading, boxes in prepared:
        if not boxes:
            continue
        details = [describe(next(probabilities), min_confidence) for _ in boxes]
        if number:
            reading.number = "".join(str(d["digit"]) for d in details)
            reading.digits = details
            reading.confidence = float(np.prod([d["confidence"] for d in details]))
            reading.low_confidence = any(d["low_confidence"] for d in details)
            reading.reader, reading.image = "components", np.hstack(boxes)
        else:
            for key, value in details[0].items():
                setattr(reading, key, value)
            reading.image = boxes[0]
    return [reading for reading, _ in prepared]


def read_digits(model: keras.Model, images: list[np.ndarray], paths: list[str] | None = None,
                min_confidence: float | None = None) -> list[Reading]:
    """Decoded photos of one digit each -> one Reading each (a photo with no ink gets an error)."""
    paths = paths or [f"image {index}" for index in range(len(images))]
    with ThreadPoolExecutor() as pool:  # OpenCV releases the GIL: photos in parallel
        prepared = list(pool.map(prepare, images, paths, [False] * len(images)))
    return answer(model, prepared, False, min_confidence)


def read_number(model: keras.Model, image: np.ndarray, path: str = "image",
                min_confidence: float | None = None) -> Reading:
    """A decoded photo of a number -> a Reading whose `number` is the digits, left to right
    (read whole by a sequence model, else digit by digit)."""
    line = reads_lines(model, True)
    return answer(model, [prepare(image, path, True, line)], True, min_confidence)[0]


def expand_inputs(inputs: list[str]) -> list[str]:
    """Files as given; folders -> their images (sorted); globs -> their matches."""
    paths = []
    for given in inputs:
        if Path(given).is_dir():
            paths += sorted(str(p) for p in Path(given).rglob("*")
                            if p.suffix.lower() in IMAGE_SUFFIXES)
        elif not Path(given).exists() and glob.has_magic(given):
            paths += sorted(glob.glob(given, recursive=True)) or [given]
        else:
            paths.append(given)
    return paths


def load_and_prepare(path: str, number: bool,
                     line: bool = False) -> tuple[Reading, list[np.ndarray]]:
    try:
        return prepare(decode(Path(path)), path, number, line)
    except (ValueError, cv2.error) as error:
        return Reading(path, error=str(error), unreadable=True), []


def read_files(model: keras.Model, paths: list[str], number: bool = False,
               min_confidence: float | None = None, progress: bool = False) -> list[Reading]:
    """Image files -> one Reading each; a file that cannot be read gets its error, never raises."""
    bar = keras.utils.Progbar(len(paths), unit_name="photo") if progress else None
    prepared, line = [], reads_lines(model, number)
    with ThreadPoolExecutor() as pool:
        for item in pool.map(load_and_prepare, paths, [number] * len(paths), [line] * len(paths)):
            prepared.append(item)
            if bar:
                bar.add(1)
    return answer(model, prepared, number, min_confidence)


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
        from digits.evaluation import plots
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
    cli.add_model(parser)
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
    model = cli.load_model(PROG, args, kind)
    min_confidence = args.min_confidence
    if crnn.is_sequence_model(model):
        if not args.number:
            raise cli.CommandError("this model reads whole numbers (a sequence model): add "
                                   "--number, or give a single-digit model")
        if min_confidence is None:
            min_confidence = number_reader.unsure_below(cli.model_path(PROG, args, kind))
    elif min_confidence is None:  # a calibrated digit model's cut (digits-calibrate)
        min_confidence = digit_calibration.unsure_below(cli.model_path(PROG, args, kind),
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
