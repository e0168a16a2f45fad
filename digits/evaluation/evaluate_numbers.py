"""digits-evaluate for a sequence model: the fixed synthetic test numbers.

The numbers are fixed_sets.fixed_set on MNIST's test split (the run's data.test_count of them,
5 000 by default), read whole (number_reader.read). Exact-number accuracy and character error
rate (CER) overall, by length and by spacing; how many readings fall under the model's
`unsure_below` and how exact the others are; an error gallery of misread numbers. Written to
RUN/evaluation.json and RUN/plots/errors.png (also in RUN/tensorboard/evaluation), atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from digits.utils import atomic
from digits.data import datasets
from digits.models import model_files
from digits.reading import number_reader
from digits.data.numbers import fixed_sets
from digits.data.numbers import composed
from digits.synth import number_layout
from digits.evaluation import figure_log, plots
from digits.models import crnn
from digits.runs import metadata
from digits.config.schemas import DataConfig

GALLERY_SIZE = 24
FILES = ["evaluation.json", "plots/errors.png"]


def test_numbers(run_dir: Path) -> tuple[list[np.ndarray], list[str], list[dict]]:
    """The run's fixed test numbers: (lines, labels, metadata), from MNIST's test split only."""
    run_cfg = metadata.run_config(run_dir)
    run_data = run_cfg.get("data", {}) or {}
    splits = datasets.load(DataConfig(test_size=run_data.get("test_size")),
                           seed=metadata.seed(run_cfg))
    x, y = composed.split_arrays(splits, "test")
    return fixed_sets.fixed_set(x, y, int(run_data.get("test_count", fixed_sets.TEST_COUNT)))


def scores(predicted: list[str], true: list[str]) -> dict:
    return {"numbers": len(true), "exact_accuracy": crnn.exact_accuracy(predicted, true),
            "cer": crnn.character_error_rate(predicted, true)}


def by_group(predicted: list[str], true: list[str], keys: list) -> dict[str, dict]:
    """scores() of each group of numbers sharing a key (a length, a spacing), in key order."""
    groups: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(str(key), []).append(index)
    order = sorted(groups, key=lambda k: (number_layout.SPACINGS + (number_layout.SINGLE,)).index(k)
                   if not k.isdigit() else int(k))
    return {key: scores([predicted[i] for i in groups[key]], [true[i] for i in groups[key]])
            for key in order}


def summarise(readings: list[crnn.Reading], labels: list[str], metadata: list[dict],
              unsure_below: float) -> dict:
    """Every figure of merit of readings of the fixed test numbers."""
    predicted = [reading.number for reading in readings]
    flagged = np.array([number_reader.is_flagged(r, unsure_below) for r in readings])
    exact = np.array([p == t for p, t in zip(predicted, labels)])
    overall = scores(predicted, labels)
    return {
        "test_exact_accuracy": overall["exact_accuracy"],
        "test_cer": overall["cer"],
        "numbers": len(labels),
        "errors": int((~exact).sum()),
        "unsure_below": unsure_below,
        "flagged": float(flagged.mean()),
        "unflagged_exact_accuracy": float(exact[~flagged].mean()) if (~flagged).any() else None,
        "by_length": by_group(predicted, labels, [m["length"] for m in metadata]),
        "by_spacing": by_group(predicted, labels, [m["spacing"] for m in metadata]),
    }


def error_gallery(lines: list[np.ndarray], labels: list[str],
                  readings: list[crnn.Reading], size: int = GALLERY_SIZE):
    """The misread numbers the model was surest of: each line as the model saw it, titled with
    the true number and the reading (and its confidence)."""
    plt = plots.plt
    wrong = [i for i, (r, t) in enumerate(zip(readings, labels)) if r.number != t]
    worst = sorted(wrong, key=lambda i: -readings[i].confidence)[:size]
    title = "misread numbers, surest first (true → read, confidence)"
    if not worst:
        return plots.image_grid(np.zeros((0, 1, 1)), title=title)
    columns = 2
    rows = -(-len(worst) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(10, 1.1 * rows + 0.5), squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    for axis, index in zip(axes.ravel(), worst):
        reading = readings[index]
        axis.imshow(lines[index], cmap="gray", vmin=0, vmax=255)
        axis.set_title(f"true {labels[index]} → {reading.number or '(nothing)'}  "
                       f"({reading.confidence:.0%})", fontsize=9)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def run(model_path: Path, model: keras.Model | None = None) -> tuple[dict, Path]:
    """Read the fixed test numbers, write evaluation.json and plots/errors.png; return (the
    result, the folder written: the run folder, or ./number_reader for the shipped model)."""
    model = model or model_files.load(model_path)
    lines, labels, metadata = test_numbers(model_files.resolve(model_path).parent)
    readings = number_reader.read(model, lines)
    result = summarise(readings, labels, metadata, number_reader.unsure_below(model_path))
    out_dir = model_files.output_folder(model_path)
    writer = tf.summary.create_file_writer(str(out_dir / "tensorboard" / "evaluation"))
    figure_log.save(error_gallery(lines, labels, readings), out_dir / "plots" / "errors.png", writer)
    writer.close()
    atomic.write_text(out_dir / "evaluation.json", json.dumps(result, indent=2) + "\n")
    return result, out_dir


def report(result: dict) -> str:
    unflagged = result["unflagged_exact_accuracy"]
    lines = [f"test exact accuracy {result['test_exact_accuracy']:.4f}   "
             f"CER {result['test_cer']:.4f}   errors {result['errors']} of {result['numbers']}",
             f"flagged (confidence under {result['unsure_below']:.2f}): {result['flagged']:.1%}"
             f"   exact when not flagged: " + ("-" if unflagged is None else f"{unflagged:.4f}")]
    for name in ("length", "spacing"):
        lines += ["", f"{name:<11}  numbers   exact     CER"]
        for key, group in result[f"by_{name}"].items():
            lines.append(f"{key:<11}  {group['numbers']:7d}  {group['exact_accuracy']:.4f}  "
                         f"{group['cer']:.4f}")
    return "\n".join(lines)
