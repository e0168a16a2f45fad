"""Sequence models compared on more validation numbers: when two candidates' validation
figures disagree, draw other numbers of the same validation digits and read them with each.

    python benchmarks/validation_numbers.py --model A --model B [--count 4000] [--seed 77001]
        [--by-length] [--cut]

Each model's own run gives the validation digits (number_calibration.validation_numbers: its
saved data config and seed, digits it never trained on); --seed draws numbers other than the
fixed ones its run and digits-calibrate read (number_sets.VALIDATION_SEED). Prints the exact
accuracy of each model reading every line once and in the two views digits-predict --number
reads (number_reader.READ_WIDTHS). The test split is never read.

--by-length adds, per model, exact accuracy (two views) by length, beside what it would be if
every digit of a number were read as often right as the one-digit numbers are (p ** length, p the
share of one-digit numbers read right): how much is lost to recognising digits at all, and how
much to digits written next to each other.

--cut reads photos of validation numbers every one of which runs off the frame's top or bottom
edge (what data.cut_fraction trains on; a tightly framed photo, as the shared photo of 33528 is)
instead of the fixed set's mix.
"""

from __future__ import annotations

import argparse

import numpy as np

from digits.models import model_files
from digits.calibration import number_calibration
from digits.reading import number_reader
from digits.synth.number_layout import MAX_DIGITS


def exact(readings, labels) -> np.ndarray:
    return np.array([r.number == label for r, label in zip(readings, labels)])


def by_length(right: np.ndarray, labels: list[str]) -> list[str]:
    """Exact accuracy by length, beside the lone-digit estimate p ** length."""
    lengths = np.array([len(label) for label in labels])
    lone = right[lengths == 1].mean()
    rows = [f"  {'length':>6} {'numbers':>8} {'exact':>7} {'lone-digit p**n':>16}"]
    for length in range(1, MAX_DIGITS + 1):
        these = right[lengths == length]
        rows.append(f"  {length:6d} {len(these):8d} {these.mean():7.4f} {lone ** length:16.4f}")
    estimate = np.mean(lone ** lengths)
    rows.append(f"  {'all':>6} {len(right):8d} {right.mean():7.4f} {estimate:16.4f}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="a sequence model (repeat)")
    parser.add_argument("--count", type=int, default=4000, help="validation numbers (4000)")
    parser.add_argument("--seed", type=int, default=77001, help="their seed (77001)")
    parser.add_argument("--by-length", action="store_true",
                        help="exact accuracy by length beside the lone-digit estimate")
    parser.add_argument("--cut", action="store_true",
                        help="photos every one of which is cut by the frame's top or bottom edge")
    args = parser.parse_args()
    print(f"{'model':60} {'once':>8} {'two views':>10}")
    for path in args.model:
        lines, labels = number_calibration.validation_numbers(path, args.count, args.seed,
                                                               args.cut)
        model = model_files.load(path)
        once, views = (exact(number_reader.read(model, lines, widths=widths), labels)
                       for widths in ((1.0,), number_reader.READ_WIDTHS))
        print(f"{path:60} {once.mean():8.4f} {views.mean():10.4f}", flush=True)
        if args.by_length:
            print("\n".join(by_length(views, labels)), flush=True)


if __name__ == "__main__":
    main()
