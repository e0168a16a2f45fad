"""Prediction entry point: `digits-predict --model MODEL [--number] INPUT...`: photos -> digits.

The Python API: `read_digits(model, images)` for decoded single-digit photos, `read_number(model,
image)` for a photo of a number, `read_files(model, paths, ...)` for files (what the CLI prints).
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import keras
import numpy as np

from digits import modelio, pipeline, vision

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
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
    image: np.ndarray | None = field(default=None, repr=False)  # what the model saw (28x28)
    unreadable: bool = False  # the file itself failed (missing, corrupt...), not just blank

    def to_json(self, number: bool) -> dict:
        result = {key: value for key, value in asdict(self).items()
                  if key not in ("image", "unreadable")}
        if not number:
            del result["number"], result["digits"]
        return result


def classify(model: keras.Model, images: list[np.ndarray]) -> np.ndarray:
    """uint8 (28, 28) MNIST-style images -> class probabilities (n, 10), in one batch."""
    if not images:
        return np.zeros((0, 10), np.float32)
    return np.asarray(model(pipeline.normalise(np.stack(images)), training=False))


def describe(probabilities: np.ndarray, min_confidence: float) -> dict:
    top = np.argsort(probabilities)[::-1][:3]
    return {"digit": int(top[0]), "confidence": float(probabilities[top[0]]),
            "top3": [{"digit": int(d), "confidence": round(float(probabilities[d]), 4)}
                     for d in top],
            "low_confidence": bool(probabilities[top[0]] < min_confidence)}


def read_digits(model: keras.Model, images: list[np.ndarray], paths: list[str] | None = None,
                min_confidence: float = MIN_CONFIDENCE) -> list[Reading]:
    """Decoded photos of one digit each -> one Reading each (a photo with no ink gets an error)."""
    paths = paths or [f"image {index}" for index in range(len(images))]
    readings, boxes = [], []
    for path, image in zip(paths, images):
        try:
            boxes.append(vision.to_mnist(image))
            readings.append(Reading(path, image=boxes[-1]))
        except vision.NoDigitError as error:
            readings.append(Reading(path, error=str(error)))
    for reading, probabilities in zip([r for r in readings if r.error is None],
                                      classify(model, boxes)):
        for key, value in describe(probabilities, min_confidence).items():
            setattr(reading, key, value)
    return readings


def read_number(model: keras.Model, image: np.ndarray, path: str = "image",
                min_confidence: float = MIN_CONFIDENCE) -> Reading:
    """A decoded photo of a number -> a Reading whose `number` is the digits, left to right."""
    try:
        boxes = vision.number_to_mnist(image)
    except vision.NoDigitError as error:
        return Reading(path, error=str(error))
    details = [describe(p, min_confidence) for p in classify(model, boxes)]
    confidence = float(np.prod([d["confidence"] for d in details]))
    return Reading(path, number="".join(str(d["digit"]) for d in details), digits=details,
                   confidence=confidence, low_confidence=any(d["low_confidence"] for d in details),
                   image=np.hstack(boxes))


def decode(path: Path) -> np.ndarray:
    """Read an image file; raise ValueError with a reason a user understands."""
    if not path.exists():
        raise ValueError("file not found")
    if not path.is_file():
        raise ValueError("not a file")
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        raise ValueError("empty file")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError("not a readable image (corrupt, truncated or not an image format)")
    return image


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


def read_files(model: keras.Model, paths: list[str], number: bool = False,
               min_confidence: float = MIN_CONFIDENCE, progress: bool = False) -> list[Reading]:
    readings = []
    bar = keras.utils.Progbar(len(paths), unit_name="photo") if progress else None
    for index, path in enumerate(paths):
        try:
            image = decode(Path(path))
            reading = (read_number(model, image, path, min_confidence) if number
                       else read_digits(model, [image], [path], min_confidence)[0])
        except (ValueError, cv2.error) as error:
            reading = Reading(path, error=str(error), unreadable=True)
        readings.append(reading)
        if bar:
            bar.update(index + 1)
    return readings


def table(readings: list[Reading], number: bool) -> str:
    width = max([len(r.path) for r in readings] + [4])
    lines = [f"{'file':<{width}}  {'prediction':>10}  confidence  top-3 / error"]
    for r in readings:
        answer = r.number if number else r.digit
        if r.error:
            lines.append(f"{r.path:<{width}}  {'-':>10}  {'-':>10}  error: {r.error}")
            continue
        top3 = " ".join(f"{t['digit']}:{t['confidence']:.2f}" for t in r.top3) if r.top3 else \
            " ".join(str(d["digit"]) for d in r.digits)
        flag = "  (low confidence)" if r.low_confidence else ""
        lines.append(f"{r.path:<{width}}  {answer!s:>10}  {r.confidence:10.3f}  {top3}{flag}")
    return "\n".join(lines)


def write_outputs(readings: list[Reading], args: argparse.Namespace) -> None:
    if args.json:
        Path(args.json).write_text(json.dumps([r.to_json(args.number) for r in readings],
                                              indent=2) + "\n")
    if args.csv:
        with open(args.csv, "w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["path", "prediction", "confidence", "low_confidence", "error"])
            for r in readings:
                writer.writerow([r.path, r.number if args.number else r.digit,
                                 f"{r.confidence:.4f}", r.low_confidence, r.error or ""])
    if args.plot:
        from digits import plots
        plots.save(plots.predictions(readings, args.number), Path(args.plot))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="digits-predict",
                                     description="Read handwritten digits in photos.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or globs")
    parser.add_argument("--model", required=True, help="a run folder or a .keras file")
    parser.add_argument("--number", action="store_true",
                        help="each photo holds a number: read all its digits, left to right")
    parser.add_argument("--json", help="write the readings as JSON to this file")
    parser.add_argument("--csv", help="write the readings as CSV to this file")
    parser.add_argument("--plot", help="write a figure: each photo, what the model saw, the answer")
    parser.add_argument("--min-confidence", type=float, default=MIN_CONFIDENCE,
                        help=f"mark answers below this confidence (default {MIN_CONFIDENCE})")
    args = parser.parse_args(argv)
    try:
        model = modelio.load(args.model)
    except modelio.ModelLoadError as error:
        print(f"digits-predict: {error}", file=sys.stderr)
        return 2
    paths = expand_inputs(args.inputs)
    readings = read_files(model, paths, args.number, args.min_confidence,
                          progress=len(paths) > 20 and sys.stderr.isatty())
    print(table(readings, args.number))
    try:
        write_outputs(readings, args)
    except OSError as error:
        print(f"digits-predict: cannot write the output: {error}", file=sys.stderr)
        return 2
    failed = sum(r.unreadable for r in readings)
    if failed:
        print(f"digits-predict: {failed} of {len(readings)} inputs could not be read",
              file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
