"""Robustness: accuracy per corruption, raw input and photo path, for models side by side.

    python benchmarks/robustness.py --model RUN [RUN2 ...] [--split validation|test] [--size N]
    python benchmarks/robustness.py --model RUN [RUN2 ...] --hands 50

Each model is measured on the suite built from its own run's split (its saved data config and
seed: validation images it never trained on); models that share a split share one suite. Prints
the table only; `digits-evaluate --model RUN --robustness` also writes JSON and figures.
With --hands N: single-digit accuracy on N photos of each digit in each of digits-handwriting's
hands 0-19 (seed 1000, as `digits-handwriting OUT --hand H --per-digit N --seed 1000` draws them),
seen hands 0-11 and unseen hands 12-19 apart, instead of the suite.
"""

from __future__ import annotations

import argparse
import time

from digits.data import datasets
from digits.models import model_files
from digits.evaluation import robustness
from digits.runs import metadata


def label(path: str) -> str:
    file = model_files.resolve(path)
    return file.parent.name if file.name == model_files.MODEL_FILE else file.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", action="extend", required=True, metavar="PATH",
                        help="run folders or .keras files (several: side by side)")
    parser.add_argument("--split", choices=("validation", "test"), default="validation",
                        help="build the suite from this split (validation; test for the final "
                        "report only)")
    parser.add_argument("--size", type=int, default=robustness.SUITE_SIZE,
                        help=f"images in the suite ({robustness.SUITE_SIZE})")
    parser.add_argument("--hands", type=int, metavar="N",
                        help="measure N photos per digit of every hand 0-19 instead")
    args = parser.parse_args()
    if args.hands:
        models = {label(path): model_files.load(path) for path in args.model}
        print(robustness.hand_table(robustness.hand_accuracy(models, args.hands)))
        return
    suites, results = {}, {}
    for path in args.model:
        images, labels = robustness.subset(*robustness.run_split(path, args.split), args.size)
        key = datasets.array_sha256(images)
        if key not in suites:
            start = time.perf_counter()
            suites[key] = robustness.build(images, labels, args.split)
            print(f"built the suite for {path} in {time.perf_counter() - start:.0f} s")
        results[label(path)] = robustness.evaluate(model_files.load(path), suites[key],
                                                   metadata.unsure_below(path, None))
    if len(suites) > 1:
        print("note: the models' runs split MNIST differently: each is measured on its own "
              "validation images")
    print(robustness.table(results))


if __name__ == "__main__":
    main()
