"""Sequence models compared on more validation numbers (issue 14): when two candidates' validation
figures disagree, draw other numbers of the same validation digits and read them with each.

    python benchmarks/validation_numbers.py --model A --model B [--count 4000] [--seed 77001]

Each model's own run gives the validation digits (number_calibration.validation_numbers: its
saved data config and seed, digits it never trained on); --seed draws numbers other than the
fixed ones its run and digits-calibrate read (number_sets.VALIDATION_SEED). Prints the exact
accuracy of each model reading every line once and in the two views digits-predict --number
reads (number_reader.READ_WIDTHS). The test split is never read.
"""

from __future__ import annotations

import argparse

from digits import modelio, number_calibration, number_reader


def exact(model, lines, labels, widths) -> float:
    readings = number_reader.read(model, lines, widths=widths)
    return sum(r.number == label for r, label in zip(readings, labels)) / len(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="a sequence model (repeat)")
    parser.add_argument("--count", type=int, default=4000, help="validation numbers (4000)")
    parser.add_argument("--seed", type=int, default=77001, help="their seed (77001)")
    args = parser.parse_args()
    print(f"{'model':60} {'once':>8} {'two views':>10}")
    for path in args.model:
        lines, labels = number_calibration.validation_numbers(path, args.count, args.seed)
        model = modelio.load(path)
        once, views = (exact(model, lines, labels, widths)
                       for widths in ((1.0,), number_reader.READ_WIDTHS))
        print(f"{path:60} {once:8.4f} {views:10.4f}", flush=True)


if __name__ == "__main__":
    main()
