"""The runs of a sweep side by side (digits-report): the overrides that differ between runs,
validation and test accuracy, epochs and training time, ranked by validation accuracy (what a
choice may be made on); test accuracy is shown as the outcome, never chosen on. Runs without
metrics.json are listed as failed or unfinished.
"""

from __future__ import annotations

import csv
from pathlib import Path

from omegaconf import OmegaConf

from digits.evaluation import plots
from digits.runs import metadata

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
        metrics = metadata.metrics(job)
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
