"""Ablations of experiment=handwriting: each ingredient removed alone, a few seeds each, measured.

    python benchmarks/ablations.py --out DIR [--epochs 2] [--seeds 1 2] [--size 2000]
                                   [--only NAME ...] [--set KEY=VALUE ...]

Every variant is `digits-train experiment=handwriting trainer.epochs=E` with one ingredient
removed, trained once per seed into DIR/<variant>_s<seed> (its log in DIR/<variant>_s<seed>.log),
one run at a time. A run whose metrics.json exists is skipped, so the same command goes on after
an interruption (one trained with other overrides, e.g. other --epochs, stops the script). The seeds vary `trainer.seed` (weights, shuffling, augmentation), never `seed`:
every run shares one validation split and the reader-data cache. The warm-up is a quarter of the
epochs (at most the recipe's one epoch), so short runs keep a valid schedule. `--set` adds
overrides to every run; a variant's own overrides come after them and win.

Variants: recipe (nothing removed), no_reader_views (data.reader_copies=0), no_hands
(data.hand_photos=0), no_corrupted (data.corrupted_fraction=0), no_augmentation
(augmentation=none: no geometry; the experiment's invert_probability 0.25 is kept, because
inversion is what lets the model read inverted MNIST and light ink on dark paper, a figure the
reader must keep, not an optional extra).

Then every run is measured on the same validation suite (robustness.build, built once) and on
the plain MNIST validation digits of the split; the table gives, per variant, the mean over seeds
and the spread (max - min). Written to DIR/ablations.json as well.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from digits.models import model_files
from digits.evaluation import robustness
from digits.models import inference

VARIANTS = {
    "recipe": [],
    "no_reader_views": ["data.reader_copies=0"],
    "no_hands": ["data.hand_photos=0"],
    "no_corrupted": ["data.corrupted_fraction=0"],
    "no_augmentation": ["augmentation=none"],
}
COLUMNS = {  # column -> (title, digits)
    "mnist_validation": ("MNIST validation", 4),
    "raw_mean": ("raw mean", 4),
    "held_out_mean": ("held-out raw mean", 4),
    "photo_mean": ("photo mean", 4),
    "train_seconds": ("train s", 0),
}


def overrides(variant: str, seed: int, epochs: int, extra: list[str], run_dir: Path) -> list[str]:
    warmup = min(1.0, epochs / 4)
    return (["experiment=handwriting", f"trainer.epochs={epochs}",
             f"trainer.warmup_epochs={warmup}", f"trainer.seed={seed}"]
            + extra + VARIANTS[variant] + [f"hydra.run.dir={run_dir}"])


def train(run_dir: Path, arguments: list[str]) -> bool:
    """One digits-train run, its output appended to run_dir.log; True when it finished."""
    with open(run_dir.with_suffix(".log"), "a") as log:
        log.write(f"$ digits-train {' '.join(arguments)}\n")
        log.flush()
        status = subprocess.run([sys.executable, "-m", "digits.train", *arguments],
                                stdout=log, stderr=subprocess.STDOUT).returncode
    return status == 0 and (run_dir / "metrics.json").is_file()


def train_all(out: Path, variants: list[str], seeds: list[int], epochs: int,
              extra: list[str]) -> list[str]:
    """Train the missing runs one at a time; the names of the runs that failed."""
    failed = []
    for variant in variants:
        for seed in seeds:
            run_dir = out / f"{variant}_s{seed}"
            arguments = overrides(variant, seed, epochs, extra, run_dir)
            if (run_dir / "metrics.json").is_file():
                saved = list(OmegaConf.load(run_dir / ".hydra" / "overrides.yaml"))
                if saved != arguments[:-1]:  # hydra.run.dir is not saved
                    print(f"ablations.py: {run_dir} was trained with other overrides "
                          f"({' '.join(saved)}): choose another --out", file=sys.stderr)
                    sys.exit(2)
                print(f"{run_dir.name}: done before, skipped", flush=True)
                continue
            start = time.perf_counter()
            finished = train(run_dir, arguments)
            print(f"{run_dir.name}: {'trained' if finished else 'FAILED'} in "
                  f"{time.perf_counter() - start:.0f} s (log: {run_dir.with_suffix('.log')})",
                  flush=True)
            if not finished:
                failed.append(run_dir.name)
    return failed


def measure(run_dir: Path, suite: robustness.Suite, validation) -> dict:
    """One run's figures: the table's columns and its metrics.json."""
    model = model_files.load(run_dir)
    images, labels = validation
    predicted = inference.predict(model, images).argmax(axis=1)
    result = robustness.evaluate(model, suite)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"mnist_validation": float(np.mean(predicted == labels)),
            "raw_mean": result["raw"]["mean"], "held_out_mean": result["raw"]["held_out_mean"],
            "photo_mean": result["photo"]["mean"], "train_seconds": metrics["train_seconds"],
            "metrics": metrics, "robustness": result}


def summary(runs: dict[int, dict]) -> dict[str, dict[str, float]]:
    return {key: {"mean": float(np.mean([run[key] for run in runs.values()])),
                  "spread": float(np.ptp([run[key] for run in runs.values()]))}
            for key in COLUMNS}


def table(results: dict[str, dict]) -> str:
    """A markdown table: mean over the seeds (spread max - min) per column."""
    lines = ["| variant | seeds | " + " | ".join(title for title, _ in COLUMNS.values()) + " |",
             "|---|---|" + "---|" * len(COLUMNS)]
    for variant, result in results.items():
        cells = [f"{result['summary'][key]['mean']:.{digits}f} "
                 f"({result['summary'][key]['spread']:.{digits}f})"
                 for key, (_, digits) in COLUMNS.items()]
        lines.append(f"| {variant} | {len(result['runs'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder of the runs and results")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run (2)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2],
                        help="trainer.seed of each run of a variant (1 2)")
    parser.add_argument("--size", type=int, default=robustness.SUITE_SIZE,
                        help=f"images in the validation suite ({robustness.SUITE_SIZE})")
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS), default=list(VARIANTS),
                        metavar="NAME", help="these variants only: " + ", ".join(VARIANTS))
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="an override added to every run (e.g. data.train_size=300)")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")
    args.out.mkdir(parents=True, exist_ok=True)
    failed = train_all(args.out, args.only, args.seeds, args.epochs, args.set)
    finished = {variant: [seed for seed in args.seeds
                          if (args.out / f"{variant}_s{seed}" / "metrics.json").is_file()]
                for variant in args.only}
    finished = {variant: seeds for variant, seeds in finished.items() if seeds}
    if not finished:
        print("ablations.py: no run finished", file=sys.stderr)
        return 1
    # Every run has the same seed and data sizes, hence the same validation split: one suite.
    first = next(args.out / f"{variant}_s{seeds[0]}" for variant, seeds in finished.items())
    validation = robustness.run_split(first, "validation")
    start = time.perf_counter()
    suite = robustness.build(*robustness.subset(*validation, args.size), "validation")
    print(f"built the validation suite ({len(suite.labels)} images) in "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    results = {}
    for variant, seeds in finished.items():
        runs = {seed: measure(args.out / f"{variant}_s{seed}", suite, validation)
                for seed in seeds}
        results[variant] = {"overrides": VARIANTS[variant], "runs": runs,
                            "summary": summary(runs)}
    report = {"epochs": args.epochs, "seeds": args.seeds, "set": args.set,
              "suite_images": len(suite.labels), "variants": results, "failed": failed}
    (args.out / "ablations.json").write_text(json.dumps(report, indent=2))
    print(table(results))
    print(f"mean over seeds (spread: max - min); MNIST validation: the {len(validation[1])} plain "
          f"validation digits; suite: {len(suite.labels)} of them, raw and as photos")
    if failed:
        print(f"ablations.py: runs failed (see their logs): {', '.join(failed)}",
              file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
