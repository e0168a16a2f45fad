"""What `robustness.run` writes into RUN/evaluations/robustness/SPLIT/ (robustness.OUTPUT_FILES):
robustness.json, the accuracy bar chart and the example grids as PNG, and all of them as
TensorBoard scalars and images.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from digits.evaluation import figure_log, plots
from digits.evaluation.robustness_suite import EXAMPLES, NAMES, PATHS, Suite
from digits.synth import corruptions
from digits.utils import atomic


def bar_chart(result: dict):
    """Accuracy per corruption, raw and photo side by side; held-out families hatched."""
    figure, axis = plots.plt.subplots(figsize=(13, 4.8))
    positions = np.arange(len(NAMES))
    for offset, path in ((-0.2, "raw"), (0.2, "photo")):
        bars = axis.bar(positions + offset, [result[path]["accuracy"][n] for n in NAMES], 0.4,
                        label=f"{path} (mean {result[path]['mean']:.3f}, held-out "
                              f"{result[path]['held_out_mean']:.3f})")
        for bar, name in zip(bars, NAMES):
            if name in corruptions.HELD_OUT:
                bar.set_hatch("//")
    axis.set_xticks(positions, [n + (" *" if n in corruptions.HELD_OUT else "") for n in NAMES],
                    rotation=45, ha="right")
    axis.set_ylim(0, 1.2)
    axis.set_yticks(np.linspace(0, 1, 6))
    axis.set_ylabel("accuracy")
    axis.grid(axis="y", alpha=0.3)
    axis.set_title(f"robustness ({result['images']} {result['split']} digits; * hatched: never "
                   "used in training)")
    axis.legend(loc="upper center", ncol=2)
    figure.tight_layout()
    return figure


def example_grids(suite: Suite) -> dict[str, object]:
    """One figure per path: a row of examples per corruption (photos beside what was read)."""
    count = min(EXAMPLES, len(suite.labels))
    names = ("clean",) + NAMES
    raw = [suite.seen["raw", name][i] / 255 for name in names for i in range(count)]
    titles = [name if i == 0 else "" for name in names for i in range(count)]
    photo, photo_titles = [], []
    for name in names:
        for i in range(min(count, 3)):
            photo += [suite.photos[name][i] / 255, suite.seen["photo", name][i] / 255]
            photo_titles += [name if i == 0 else "", "read" if i == 0 else ""]
    return {"examples_raw": plots.image_grid(raw, titles, columns=count,
                                             title="raw input, per corruption"),
            "examples_photo": plots.image_grid(photo, photo_titles, columns=2 * min(count, 3),
                                               title="photos per corruption, and what the "
                                                     "reader made of them")}


def write_outputs(result: dict, suite: Suite, out_dir: Path) -> None:
    """robustness.json, accuracy.png, examples_*.png and TensorBoard scalars and images."""
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = tf.summary.create_file_writer(str(out_dir / "tensorboard"))
    with writer.as_default():
        for path in PATHS:
            for name, accuracy in result[path]["accuracy"].items():
                tf.summary.scalar(f"robustness_{path}/{name}", accuracy, step=0)
            for key in ("mean", "held_out_mean", "other_mean"):
                tf.summary.scalar(f"robustness_{path}/{key}", result[path][key], step=0)
    figure_log.save(bar_chart(result), out_dir / "accuracy.png", writer)
    for stem, figure in example_grids(suite).items():
        figure_log.save(figure, out_dir / f"{stem}.png", writer)
    writer.close()
    atomic.write_text(out_dir / "robustness.json", json.dumps(result, indent=2) + "\n")
