"""Whole numbers: the component reader and the sequence reader side by side.

    python benchmarks/whole_numbers.py --model SEQ_MODEL --digit-model DIGIT_MODEL
        [--count 5000] [--hands-photos 50] [--unsure-below P] [--repeats 50]
        [--read-widths 0.85 1.15]

SEQ_MODEL is a sequence model (output (T, 11)): it reads the photo's line as digits-predict
--number does (digits.reading.number_reader: two views of the line; --read-widths 1 reads it once).
DIGIT_MODEL is a single-digit model: the component reader cuts the photo's ink into connected
components and reads each (digits-predict --number with a single-digit model). Either may be left
out. Prints exact-number accuracy and character error rate (CER) of each reader, overall, by
length (1-8) and by spacing (overlapping / touching / tight / wide / single), on:
- the fixed synthetic test set (fixed_sets.fixed_set on MNIST's test split; --count N: its
  first N numbers). The sequence reader reads each number's line, the component reader the
  photo (or clean view) that line was made from;
- the shared number photos (tests/data/numbers);
- digits-handwriting numbers of the unseen hands 12-19: --hands-photos per hand, seed 1000, as
  `digits-handwriting OUT --numbers N --hand H --seed 1000` writes them;
with, under each table, the share of readings flagged unsure (nothing read, or the whole-number
confidence under --unsure-below, by default SEQ_MODEL's calibrated unsure_below or 0.5; the
component reader's confidence is the product of its digits'), how often the readings not
flagged are exact, and how many photos gave nothing to read (no ink found, or no digit read).
Last, ms per photo for a 6-digit number (the shared photo of 552753, its paper extended to 4:3)
in a 640x480 JPEG, warm, decode included; the median of --repeats calls, after 5 to warm up.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import keras
import numpy as np

from digits.data import datasets
from digits.synth import hand_numbers
from digits.synth import hands
from digits.models import model_files
from digits.reading import number_reader
from digits.data.numbers import fixed_sets
from digits.models import crnn
from digits.vision import mnist_style
from digits.config.schemas import DataConfig
from digits.vision.image_files import decode
from digits.synth import number_layout
from digits.reading import digit_reader

SHARED = Path(__file__).resolve().parent.parent / "tests" / "data" / "numbers"
SPEED_PHOTO = "number_003.jpg"  # 552753: six digits
CHUNK = 256  # fixed-set numbers rendered and read at a time (their photos are large)
GROUPS = ("all", *(f"length {n}" for n in range(1, number_layout.MAX_DIGITS + 1)),
          *number_layout.SPACINGS, number_layout.SINGLE)


@dataclass
class Item:
    label: str
    spacing: str | None  # None where unknown (the shared photos)


def groups_of(item: Item) -> list[str]:
    return ["all", f"length {len(item.label)}"] + ([item.spacing] if item.spacing else [])


def read_component(model, images: list[np.ndarray]) -> list[tuple[str, float]]:
    """(number, confidence) per photo by connected components; ("", 0) where no ink was found."""
    with ThreadPoolExecutor() as pool:
        prepared = list(pool.map(lambda image: digit_reader.prepare(image, "photo", True), images))
    readings = digit_reader.answer(model, prepared, True, digit_reader.MIN_CONFIDENCE)
    return [(r.number or "", r.confidence if r.number else 0.0) for r in readings]


def line_or_none(image: np.ndarray) -> np.ndarray | None:
    try:
        return number_reader.line_of(image)
    except mnist_style.NoDigitError:
        return None


@dataclass
class SequenceReader:
    model: keras.Model
    widths: tuple[float, ...]  # number_reader.read's views of each line


def read_sequence(reader: SequenceReader,
                  lines: list[np.ndarray | None]) -> list[tuple[str, float]]:
    """(number, whole-number confidence) per line; ("", 0) where the photo gave no line."""
    readings = iter(number_reader.read(reader.model, [line for line in lines if line is not None],
                                       reader.widths))
    out = []
    for line in lines:
        reading = None if line is None else next(readings)
        out.append(("", 0.0) if reading is None else (reading.number, reading.confidence))
    return out


def read_all(readers: dict, images: list[np.ndarray], lines: list | None = None) -> dict:
    """Every reader's (number, confidence) per photo; the sequence reader takes `lines` if given."""
    out = {}
    if "component" in readers:
        out["component"] = read_component(readers["component"], images)
    if "sequence" in readers:
        if lines is None:
            with ThreadPoolExecutor() as pool:
                lines = list(pool.map(line_or_none, images))
        out["sequence"] = read_sequence(readers["sequence"], lines)
    return out


def fixed_set(readers: dict, count: int) -> tuple[list[Item], dict]:
    splits = datasets.load(DataConfig(), seed=0)  # the test split is MNIST's whole test set
    x, y = splits.x_test, splits.y_test
    lengths = fixed_sets.fixed_lengths(fixed_sets.TEST_COUNT, fixed_sets.TEST_SEED)[:count]
    items, readings = [], {name: [] for name in readers}
    for start in range(0, count, CHUNK):
        with ThreadPoolExecutor() as pool:
            made = list(pool.map(lambda i: fixed_sets.fixed_item(x, y, i, lengths[i]),
                                 range(start, min(count, start + CHUNK))))
        items += [Item(number.label, number.spacing) for _, _, number in made]
        for name, read in read_all(readers, [image for image, _, _ in made],
                                   [line for _, line, _ in made]).items():
            readings[name] += read
    return items, readings


def shared_photos(readers: dict) -> tuple[list[Item], dict]:
    with open(SHARED / "labels.csv") as file:
        rows = list(csv.DictReader(file))
    images = [decode(SHARED / row["path"]) for row in rows]
    return [Item(row["label"], None) for row in rows], read_all(readers, images)


def unseen_hands(readers: dict, per_hand: int) -> tuple[list[Item], dict]:
    items, images = [], []
    for hand in hands.UNSEEN_HANDS:
        for index in range(per_hand):
            photo, number = hand_numbers.number_photo(hand, hands.FIRST_MEASURING_SEED, index)
            # as the file digits-handwriting writes decodes
            images.append(cv2.imdecode(cv2.imencode(".jpg", photo)[1], cv2.IMREAD_UNCHANGED))
            items.append(Item(number.label, number.spacing))
    return items, read_all(readers, images)


def table(items: list[Item], readings: dict) -> list[str]:
    """One row per group with numbers in it: n, then each reader's exact accuracy and CER."""
    names = list(readings)
    lines = [f"{'group':<12} {'n':>5}" + "".join(f"  {name + ' exact':>17} {'CER':>7}"
                                                 for name in names)]
    for group in GROUPS:
        chosen = [i for i, item in enumerate(items) if group in groups_of(item)]
        if not chosen:
            continue
        row = f"{group:<12} {len(chosen):>5}"
        for name in names:
            figures = crnn.scores([readings[name][i][0] for i in chosen],
                                      [items[i].label for i in chosen])
            row += f"  {figures['exact_accuracy']:>17.4f} {figures['cer']:>7.4f}"
        lines.append(row)
    return lines


def flagging(items: list[Item], readings: dict, threshold: float) -> list[str]:
    lines = []
    for name, read in readings.items():
        flagged = [number_reader.is_flagged(crnn.Reading(number, (), confidence), threshold)
                   for number, confidence in read]
        kept = [i for i, flag in enumerate(flagged) if not flag]
        exact = sum(read[i][0] == items[i].label for i in kept)
        lines.append(f"{name}: flagged unsure {sum(flagged) / len(read):.4f} "
                     f"({sum(flagged)} of {len(read)}); not flagged exact "
                     f"{exact / max(len(kept), 1):.4f} ({exact} of {len(kept)}); nothing read "
                     f"{sum(not number for number, _ in read)}")
    return lines


def six_digit_jpeg(path: Path) -> None:
    """The shared photo of 552753 as a 640x480 JPEG: its paper extended to 4:3 (stretching it
    would make every digit a 1), then scaled."""
    image = cv2.imread(str(SHARED / SPEED_PHOTO))
    missing = max(0, round(image.shape[1] * 3 / 4) - image.shape[0])
    image = cv2.copyMakeBorder(image, missing // 2, missing - missing // 2, 0, 0,
                               cv2.BORDER_REPLICATE)
    cv2.imwrite(str(path), cv2.resize(image, (640, 480), interpolation=cv2.INTER_AREA))


def speed(readers: dict, repeats: int, folder: Path) -> list[str]:
    """Median ms per photo, warm, decode included, for the 6-digit photo at 640x480."""
    path = folder / "six_digits.jpg"
    six_digit_jpeg(path)
    calls = {"component": lambda: read_component(readers["component"], [decode(path)]),
             "sequence": lambda: read_sequence(readers["sequence"],
                                               [number_reader.line_of(decode(path))])}
    lines = []
    for name in readers:
        for _ in range(5):  # warm up: the first calls trace and allocate
            calls[name]()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            calls[name]()
            times.append(time.perf_counter() - start)
        lines.append(f"{name}: {np.median(times) * 1000:.2f} ms per photo "
                     f"(median of {repeats}, read {calls[name]()[0][0]!r})")
    return lines


def load_readers(args) -> dict:
    readers = {}
    if args.digit_model:
        readers["component"] = model_files.load(args.digit_model)
        if crnn.is_sequence_model(readers["component"]):
            raise SystemExit(f"--digit-model {args.digit_model} is a sequence model")
    if args.model:
        model = model_files.load(args.model)
        if not crnn.is_sequence_model(model):
            raise SystemExit(f"--model {args.model} is not a sequence model (output (T, 11))")
        readers["sequence"] = SequenceReader(model, tuple(args.read_widths))
    if not readers:
        raise SystemExit("give --model SEQ_MODEL, --digit-model DIGIT_MODEL or both")
    return readers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", metavar="SEQ_MODEL", help="a sequence model: run or .keras")
    parser.add_argument("--digit-model", metavar="DIGIT_MODEL",
                        help="a single-digit model for the component reader: run or .keras")
    parser.add_argument("--count", type=int, default=fixed_sets.TEST_COUNT,
                        help=f"the fixed set's first COUNT numbers ({fixed_sets.TEST_COUNT})")
    parser.add_argument("--hands-photos", type=int, default=50, metavar="N",
                        help="numbers per unseen hand 12-19 (50; 0 leaves them out)")
    parser.add_argument("--unsure-below", type=float, metavar="P",
                        help="flag a reading whose confidence is under P (SEQ_MODEL's "
                        f"unsure_below, else {number_reader.UNSURE_BELOW})")
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per reader (50)")
    parser.add_argument("--read-widths", type=float, nargs="+", metavar="F",
                        default=list(number_reader.READ_WIDTHS),
                        help="the views of each line SEQ_MODEL reads, as fractions of its width "
                        f"({' '.join(map(str, number_reader.READ_WIDTHS))}, as digits-predict "
                        "reads; 1: each line once, as it is)")
    args = parser.parse_args(argv)
    if not 1 <= args.count <= fixed_sets.TEST_COUNT:
        parser.error(f"--count must be 1 .. {fixed_sets.TEST_COUNT}")
    readers = load_readers(args)
    if args.unsure_below is None:
        args.unsure_below = (number_reader.unsure_below(args.model) if args.model
                             else number_reader.UNSURE_BELOW)
    print("readers: " + ", ".join(f"{name} {path}" for name, path in
                                   (("component", args.digit_model), ("sequence", args.model))
                                   if path)
          + (f" (views of each line: {' '.join(map(str, args.read_widths))} of its width)"
             if args.model else ""))
    sets = [(f"fixed synthetic test set, first {args.count} of {fixed_sets.TEST_COUNT} "
             "(MNIST test split)", lambda: fixed_set(readers, args.count)),
            ("shared number photos (tests/data/numbers)", lambda: shared_photos(readers))]
    if args.hands_photos > 0:
        sets.append((f"digits-handwriting numbers, unseen hands {hands.UNSEEN_HANDS[0]}-"
                     f"{hands.UNSEEN_HANDS[-1]}, {args.hands_photos} each, seed "
                     f"{hands.FIRST_MEASURING_SEED}", lambda: unseen_hands(readers,
                                                                           args.hands_photos)))
    for title, measure in sets:
        items, readings = measure()
        print(f"\n== {title}")
        print("\n".join(table(items, readings)))
        print(f"unsure below {args.unsure_below}:")
        print("\n".join(flagging(items, readings, args.unsure_below)))
    print("\n== 6-digit number in a 640x480 JPEG, warm, decode included")
    with tempfile.TemporaryDirectory() as folder:
        print("\n".join(speed(readers, args.repeats, Path(folder))))


if __name__ == "__main__":
    main()
