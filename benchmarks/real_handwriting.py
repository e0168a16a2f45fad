"""Real handwriting, read exactly as `digits-predict` (and `digits-serve`) read it.

    python benchmarks/real_handwriting.py --data FOLDER_WITH_labels.csv [--model MODEL ...]
    python benchmarks/real_handwriting.py --data digits.npz [--upscale 6] [--model MODEL ...]

A folder holds photos of whole numbers and a `labels.csv` (`path`, `label`: the digits left to
right); each photo is read as `digits-predict --number` reads it. An `.npz` holds single digits
(`images` uint8 (N, H, W), dark ink on white, and `labels`); each bitmap is given as a user would
give a small scan: enlarged `--upscale` times (cubic), with a white margin a quarter of its size,
then read as `digits-predict` reads a photo. Without --model, the reader digits ships for the
kind of data; --model may be given several times, and every model reads the same images in the
same run.

Printed per model: exact accuracy, for numbers the character error rate and accuracy by length,
the unsure flag (share flagged, accuracy among the rest), and the misreadings by kind (numbers:
digits lost, digits added, digits substituted; digits: the most frequent confusions).
--sheet PATH writes a contact sheet of misreadings (the photo, what the model saw, truth and
reading) for the first model. --through-server also sends every image to digits-serve's HTTP API
as its page does (the shipped readers, mode=number for numbers, source=photo) and counts the
answers that differ from the command's. The data is read where it lies: never copy it into the
project.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from fastapi.testclient import TestClient

from digits.reading import digit_reader
from digits.models import crnn, model_files
from digits.serving.app import create_app
from digits.runs import metadata
from digits.reading import number_reader
from digits.vision import image_files

SHEET_ROWS = 40  # misreadings drawn on a contact sheet
TILE_HEIGHT = 64  # px: each picture's height on the sheet


def user_scan(bitmap: np.ndarray, upscale: int) -> np.ndarray:
    """A small bitmap as a user gives it: enlarged (cubic), with a white margin a quarter of its
    size."""
    big = cv2.resize(bitmap, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
    margin = big.shape[0] // 4
    return cv2.copyMakeBorder(big, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=255)


def load(data: Path, upscale: int, limit: int | None) -> tuple[list[np.ndarray], list[str], bool]:
    """(decoded images, truths as digit strings, whether they are whole numbers)."""
    if data.suffix == ".npz":
        with np.load(data) as stored:
            bitmaps, labels = stored["images"], stored["labels"]
        chosen = range(len(labels))[:limit]
        return [user_scan(bitmaps[i], upscale) for i in chosen], [str(int(labels[i])) for i in chosen], False
    labels_file = data / "labels.csv"
    if not labels_file.is_file():
        sys.exit(f"real_handwriting.py: {data} holds no labels.csv (and is not an .npz)")
    with labels_file.open(newline="") as handle:
        rows = list(csv.DictReader(handle))[:limit]
    return [image_files.decode(data / row["path"]) for row in rows], [row["label"] for row in rows], True


def kind_of_error(truth: str, reading: str) -> str:
    if len(reading) < len(truth):
        return "digits lost"
    if len(reading) > len(truth):
        return "digits added"
    return "digits substituted"


def read_all(model, images: list[np.ndarray], numbers: bool, cut: float):
    if numbers:
        return [digit_reader.read_number(model, image, f"image {i}", cut) for i, image in enumerate(images)]
    return digit_reader.read_digits(model, images, min_confidence=cut)


def report(name: str, truths: list[str], readings, numbers: bool, seconds: float) -> np.ndarray:
    read = [(r.number if numbers else (None if r.digit is None else str(r.digit))) or "" for r in readings]
    right = np.array([t == r for t, r in zip(truths, read)])
    flagged = np.array([r.low_confidence or not text for r, text in zip(readings, read)])
    print(f"\n## {name}")
    print(f"exact {right.mean():.4f} ({right.sum()} of {len(right)}); "
          f"{seconds / len(right) * 1000:.1f} ms an image")
    if numbers:
        errors = sum(crnn.edit_distance(t, r) for t, r in zip(truths, read))
        print(f"character error rate {errors / sum(len(t) for t in truths):.4f}")
        lengths = np.array([len(t) for t in truths])
        print("by length: " + ", ".join(f"{n}: {right[lengths == n].mean():.3f} ({(lengths == n).sum()})"
                                        for n in sorted(set(lengths))))
        kinds = Counter(kind_of_error(t, r) for t, r, ok in zip(truths, read, right) if not ok)
        print("misreadings: " + ", ".join(f"{kind} {count}" for kind, count in kinds.most_common()))
    else:
        confusions = Counter(f"{t}->{r or '?'}" for t, r, ok in zip(truths, read, right) if not ok)
        print("most frequent confusions: " + ", ".join(f"{pair} {count}" for pair, count
                                                      in confusions.most_common(10)))
    kept = ~flagged
    print(f"unsure flag: {flagged.mean():.1%} flagged, "
          f"{right[kept].mean() if kept.any() else float('nan'):.4f} exact among the rest")
    return right


def tile(image: np.ndarray) -> np.ndarray:
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    width = max(1, round(grey.shape[1] * TILE_HEIGHT / grey.shape[0]))
    return cv2.resize(grey, (width, TILE_HEIGHT), interpolation=cv2.INTER_AREA)


def write_sheet(path: Path, images, truths, readings, right, numbers: bool) -> None:
    rows = []
    for index in np.flatnonzero(~right)[:SHEET_ROWS]:
        reading = readings[index]
        # what the model saw (the line, or the 28x28); nothing where the reader found no ink
        seen = 255 - (reading.image if reading.image is not None else np.zeros((28, 28), np.uint8))
        text = f"{truths[index]} -> {(reading.number if numbers else reading.digit) or '?'}"
        label = np.full((TILE_HEIGHT, 260), 255, np.uint8)
        cv2.putText(label, text, (6, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 0, 2)
        rows.append(np.hstack([tile(images[index]), np.full((TILE_HEIGHT, 8), 128, np.uint8),
                               tile(seen), label]))
    if not rows:
        return
    width = max(row.shape[1] for row in rows)
    sheet = np.vstack([np.pad(row, ((0, 4), (0, width - row.shape[1])), constant_values=255) for row in rows])
    cv2.imwrite(str(path), sheet)
    print(f"contact sheet of {len(rows)} misreadings: {path}")


def encoded(data: Path, images: list[np.ndarray], limit: int | None) -> list[bytes]:
    """The images as a user would upload them: a folder's files as they are, an .npz's scans as
    PNG."""
    if data.suffix == ".npz":
        return [cv2.imencode(".png", image)[1].tobytes() for image in images]
    with (data / "labels.csv").open(newline="") as handle:
        return [(data / row["path"]).read_bytes() for row in list(csv.DictReader(handle))[:limit]]


def server_disagreements(files: list[bytes], readings, numbers: bool) -> int:
    """How many images digits-serve (both shipped readers, as started without options) reads
    otherwise than `readings` (the shipped reader's, read as digits-predict reads them)."""
    digit_path = model_files.default_model_path("digit")
    number_path = model_files.default_model_path("number")
    app = create_app(model_files.load(digit_path), digit_path,
                     number_model=model_files.load(number_path), number_model_path=number_path)
    differ = 0
    with TestClient(app) as client:
        for data, reading in zip(files, readings):
            answer = client.post("/api/predict", params={"mode": "number" if numbers else "digit",
                                                         "source": "photo"},
                                 files={"file": ("upload", data)}).json()
            differ += answer.get("number" if numbers else "digit") != (
                reading.number if numbers else reading.digit)
    return differ


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True,
                        help="a folder with labels.csv (whole numbers) or an .npz of single digits")
    parser.add_argument("--model", action="append", default=[],
                        help="a model to read with (several allowed; default: the shipped reader)")
    parser.add_argument("--upscale", type=int, default=6, help="enlargement of .npz bitmaps")
    parser.add_argument("--limit", type=int, default=None, help="read only the first N")
    parser.add_argument("--sheet", type=Path, help="write a contact sheet of misreadings here")
    parser.add_argument("--through-server", action="store_true",
                        help="also read every image through digits-serve's API and compare")
    args = parser.parse_args(argv)
    images, truths, numbers = load(args.data, args.upscale, args.limit)
    kind = "number" if numbers else "digit"
    print(f"{len(images)} {'numbers' if numbers else 'digits'} from {args.data}")
    for index, path in enumerate(args.model or [str(model_files.default_model_path(kind))]):
        model = model_files.load(path)
        if numbers and crnn.is_sequence_model(model):
            cut = number_reader.unsure_below(path)
        else:
            cut = metadata.unsure_below(model_files.resolve(path).parent, digit_reader.MIN_CONFIDENCE)
        start = time.perf_counter()
        readings = read_all(model, images, numbers, cut)
        right = report(path, truths, readings, numbers, time.perf_counter() - start)
        if args.sheet and index == 0:
            write_sheet(args.sheet, images, truths, readings, right, numbers)
        if args.through_server and index == 0 and not args.model:
            differ = server_disagreements(encoded(args.data, images, args.limit), readings,
                                          numbers)
            print(f"through digits-serve's API: {len(images) - differ} of {len(images)} read the "
                  f"same as the command")


if __name__ == "__main__":
    main()
