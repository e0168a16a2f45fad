"""Robustness: accuracy per corruption, raw input and photo path, for models side by side.

    python benchmarks/robustness.py --model RUN [RUN2 ...] [--split validation|test] [--size N]

Each model is measured on the suite built from its own run's split (its saved data config and
seed: validation images it never trained on); models that share a split share one suite. Prints
the table only; `digits-evaluate --model RUN --robustness` also writes JSON and figures.
"""

from __future__ import annotations

import argparse
import time

from digits import data, modelio, robustness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", action="extend", required=True, metavar="PATH",
                        help="run folders or .keras files (several: side by side)")
    parser.add_argument("--split", choices=("validation", "test"), default="validation",
                        help="build the suite from this split (validation; test for the final "
                        "report only)")
    parser.add_argument("--size", type=int, default=robustness.SUITE_SIZE,
                        help=f"images in the suite ({robustness.SUITE_SIZE})")
    args = parser.parse_args()
    suites, results = {}, {}
    for path in args.model:
        images, labels = robustness.subset(*robustness.run_split(path, args.split), args.size)
        key = data.array_sha256(images)
        if key not in suites:
            start = time.perf_counter()
            suites[key] = robustness.build(images, labels, args.split)
            print(f"built the suite for {path} in {time.perf_counter() - start:.0f} s")
        file = modelio.resolve(path)
        label = file.parent.name if file.name == modelio.MODEL_FILE else file.name
        results[label] = robustness.evaluate(modelio.load(path), suites[key])
    if len(suites) > 1:
        print("note: the models' runs split MNIST differently: each is measured on its own "
              "validation images")
    print(robustness.table(results))


if __name__ == "__main__":
    main()
