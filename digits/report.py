"""Compare the runs of a sweep: `digits-report SWEEP_DIR [--csv FILE] [--plot FILE]`.

One table of every run of a multirun folder: the overrides that differ between runs, validation
and test accuracy, epochs and training time. Runs are ranked by validation accuracy (what a choice
may be made on); test accuracy is shown as the outcome, never chosen on. Runs without
metrics.json are listed as failed or unfinished. Printed as Markdown and saved as
SWEEP_DIR/report.md (rewritten each time).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from omegaconf import OmegaConf

from digits import cli
from digits.runs import trial_command

# val_accuracy: the validation accuracy of the saved model; older runs only have the best epoch's.
# A whole-number run (data=numbers) has exact-number accuracies in their place.
VALIDATION_KEYS = ("val_accuracy", "best_val_accuracy", "val_exact_accuracy",
                   "best_val_exact_accuracy")
COLUMNS = ("val_accuracy", "test_accuracy", "inverted_test_accuracy", "epochs", "train_seconds")


def validation_accuracy(metrics: dict) -> float | None:
    return next((metrics[key] for key in VALIDATION_KEYS if metrics.get(key) is not None), None)


def collect(sweep_dir: Path) -> list[dict]:
    """One row per job folder (one holding .hydra/overrides.yaml), in job order."""
    jobs = [p.parent.parent for p in sweep_dir.glob("*/.hydra/overrides.yaml")]
    rows = []
    for job in sorted(jobs, key=lambda p: (len(p.name), p.name)):
        overrides = dict(o.split("=", 1) for o in OmegaConf.load(job / ".hydra/overrides.yaml"))
        metrics_file = job / "metrics.json"
        metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
        rows.append({"run": job.name, "folder": str(job), "overrides": overrides,
                     "status": "done" if metrics else "failed or unfinished",
                     **{key: metrics.get(key) for key in COLUMNS},
                     "val_accuracy": validation_accuracy(metrics),
                     "test_accuracy": metrics.get("test_accuracy",
                                                  metrics.get("test_exact_accuracy"))})
    return rows


def swept_keys(rows: list[dict]) -> list[str]:
    """Override keys whose value is not the same in every run."""
    keys = sorted({key for row in rows for key in row["overrides"]})
    return [k for k in keys if len({row["overrides"].get(k) for row in rows}) > 1]


def ranked(rows: list[dict]) -> list[dict]:
    """Best validation accuracy first (never test accuracy); runs without one last."""
    return sorted(rows, key=lambda row: (row["val_accuracy"] is None,
                                         -(row["val_accuracy"] or 0.0)))


def markdown(rows: list[dict], keys: list[str]) -> str:
    header = ["run", *keys, *COLUMNS, "status"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["run"], *(row["overrides"].get(k, "") for k in keys)]
        for column in COLUMNS:
            value = row[column]
            cells.append("" if value is None else f"{value:.4f}" if isinstance(value, float)
                         and column != "train_seconds" else str(value))
        lines.append("| " + " | ".join([*cells, row["status"]]) + " |")
    return "\n".join(lines)


def write_csv(rows: list[dict], keys: list[str], path: Path) -> None:
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["run", *keys, *COLUMNS, "status", "folder"])
        for row in rows:
            writer.writerow([row["run"], *(row["overrides"].get(k, "") for k in keys),
                             *(row[c] for c in COLUMNS), row["status"], row["folder"]])


def plot(rows: list[dict], keys: list[str], path: Path) -> None:
    """Validation accuracy against each swept parameter (one panel each)."""
    from digits.evaluation import plots

    done = [row for row in rows if row["val_accuracy"] is not None]
    figure, axes = plots.plt.subplots(1, max(1, len(keys)), figsize=(4.5 * max(1, len(keys)), 4),
                                      squeeze=False)
    for axis, key in zip(axes[0], keys or ["run"]):
        values = [row["overrides"].get(key, row["run"]) for row in done]
        try:
            positions = [float(v) for v in values]
        except ValueError:  # categorical: one position per distinct value
            categories = sorted(set(values))
            positions = [categories.index(v) for v in values]
            axis.set_xticks(range(len(categories)), categories, rotation=20)
        axis.scatter(positions, [row["val_accuracy"] for row in done])
        axis.set_xlabel(key)
        axis.set_ylabel("validation accuracy")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    plots.save(figure, path)


EXAMPLES = """\
  digits-report multirun/2026-01-01/12-00-00
  digits-report multirun/2026-01-01/12-00-00 --csv sweep.csv --plot sweep.png
  digits-report multirun/2026-01-01/12-00-00 --csv sweep.csv --overwrite"""

PROG = "digits-report"


def build_parser() -> cli.Parser:
    # The sweep folder stays positional: it is what the command reads, not a model.
    parser = cli.Parser(PROG, __doc__.strip(), EXAMPLES)
    parser.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR",
                        help="a multirun folder (multirun/DATE/TIME)")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="also write the table as CSV")
    parser.add_argument("--plot", type=Path, metavar="FILE",
                        help="plot validation accuracy against each swept parameter")
    cli.add_overwrite(parser)
    return parser


def command(args) -> int:
    for option in ("csv", "plot"):
        if getattr(args, option) is not None:
            cli.refuse_existing(getattr(args, option), args.overwrite, f"--{option}")
    if not args.sweep_dir.is_dir():
        raise cli.CommandError(f"{args.sweep_dir} is not a folder: give a multirun folder")
    rows = ranked(collect(args.sweep_dir))
    if not rows:
        raise cli.CommandError(f"no runs in {args.sweep_dir} (no */.hydra/overrides.yaml): "
                               "give a multirun folder (multirun/DATE/TIME)")
    keys = swept_keys(rows)
    table = markdown(rows, keys)
    (args.sweep_dir / "report.md").write_text(table + "\n")
    print(table)
    if args.csv:
        write_csv(rows, keys, args.csv)
    if args.plot:
        plot(rows, keys, args.plot)
    failed = [row["run"] for row in rows if row["status"] != "done"]
    if failed:
        print(f"\nfailed or unfinished: {', '.join(failed)}")
    best = rows[0]
    if best["val_accuracy"] is not None:
        test = "" if best["test_accuracy"] is None else \
            f", test accuracy {best['test_accuracy']:.4f}"
        print(f"\nbest run by validation accuracy: {best['folder']} "
              f"(validation accuracy {best['val_accuracy']:.4f}{test})")
        print(f"its command: {trial_command.command(Path(best['folder']))}")
    return cli.OK


def main(argv: list[str] | None = None) -> int:
    return cli.run(PROG, lambda: command(build_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
