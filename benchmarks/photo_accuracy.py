"""Photo accuracy: digits and whole numbers read right in a labelled folder of photos.

    python benchmarks/photo_accuracy.py --model RUN_DIR --data DIR

DIR holds labels.csv (`path,label`, paths relative to DIR); a label of one digit is read as a
digit, a longer one as a number.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from digits.models import model_files
from digits.reading import digit_reader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, type=Path, help="a folder holding labels.csv")
    args = parser.parse_args()
    model = model_files.load(args.model)
    with open(args.data / "labels.csv") as file:
        rows = list(csv.DictReader(file))
    for kind, number in (("digits", False), ("numbers", True)):
        chosen = [row for row in rows if (len(row["label"]) > 1) == number]
        readings = digit_reader.read_files(model, [str(args.data / r["path"]) for r in chosen],
                                      number=number)
        wrong = [(r["path"], reading.number if number else reading.digit, r["label"])
                 for r, reading in zip(chosen, readings)
                 if str(reading.number if number else reading.digit) != r["label"]]
        right = len(chosen) - len(wrong)
        print(f"{kind}: {right} of {len(chosen)} read right ({right / max(len(chosen), 1):.4f})")
        for path, got, label in wrong:
            print(f"  {path}: read {got}, label {label}")


if __name__ == "__main__":
    main()
