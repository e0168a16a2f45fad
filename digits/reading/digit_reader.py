"""Photos of digits read by a single-digit model, or photos of numbers read whole by a sequence
model (number_reader) or cut into connected components whose digits a single-digit model reads.

The Python API: `read_digits(model, images)` for decoded single-digit photos, `read_number(model,
image)` for a photo of a number, `read_files(model, paths, ...)` for files (what digits-predict
prints); `prepare` and `fill_in` for a caller that classifies many photos' digits in one call (the
web server).
"""

from __future__ import annotations

import glob
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import keras
import numpy as np

from digits.models import crnn, inference
from digits.reading import number_reader
from digits.vision import drawing, mnist_style
from digits.vision.image_files import IMAGE_SUFFIXES, decode

MIN_CONFIDENCE = 0.6
SOURCES = ("photo", "drawing")  # what an image is: a photo (cleaned up) or a drawing made on the page


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


def classify(model: keras.Model, images: list[np.ndarray]) -> np.ndarray:
    """uint8 (28, 28) MNIST-style images -> class probabilities (n, 10)."""
    return inference.predict(model, images)


def describe(probabilities: np.ndarray, min_confidence: float) -> dict:
    top = np.argsort(probabilities)[::-1][:3]
    return {"digit": int(top[0]), "confidence": float(probabilities[top[0]]),
            "top3": [{"digit": int(d), "confidence": round(float(probabilities[d]), 4)}
                     for d in top],
            "low_confidence": bool(probabilities[top[0]] < min_confidence),
            "probabilities": [float(p) for p in probabilities]}


def prepare(image: np.ndarray, path: str, number: bool, line: bool = False,
            source: str = "photo") -> tuple[Reading, list[np.ndarray]]:
    """A decoded photo (or, with source "drawing", a drawing made on the page: none of the photo
    cleanup) -> (its Reading, still without an answer; the 28x28 digits to classify, or with
    `line` the one line of ink a sequence model reads)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
    shapes = drawing if source == "drawing" else mnist_style
    try:
        if line:
            return Reading(path), [shapes.to_line(image)]
        if number:
            return Reading(path), shapes.number_to_mnist(image)
        box, count = shapes.to_mnist_counting(image)
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
                min_confidence: float | None = None, source: str = "photo") -> list[Reading]:
    """Decoded photos (or drawings: `source`) of one digit each -> one Reading each (one with no
    ink gets an error)."""
    paths = paths or [f"image {index}" for index in range(len(images))]
    count = len(images)
    with ThreadPoolExecutor() as pool:  # OpenCV releases the GIL: photos in parallel
        prepared = list(pool.map(prepare, images, paths, [False] * count, [False] * count,
                                 [source] * count))
    return answer(model, prepared, False, min_confidence)


def read_number(model: keras.Model, image: np.ndarray, path: str = "image",
                min_confidence: float | None = None, source: str = "photo") -> Reading:
    """A decoded photo (or drawing: `source`) of a number -> a Reading whose `number` is the
    digits, left to right (read whole by a sequence model, else digit by digit)."""
    line = reads_lines(model, True)
    return answer(model, [prepare(image, path, True, line, source)], True, min_confidence)[0]


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
