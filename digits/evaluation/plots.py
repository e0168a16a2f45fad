"""matplotlib figures of a run, saved as PNG and also written to TensorBoard as images."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")  # files only: runs are headless
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from digits.utils import atomic  # noqa: E402
from digits.vision import mnist_style  # noqa: E402


def curves(history: dict[str, list[float]]) -> plt.Figure:
    """The article's last figure: accuracy and loss per epoch, training and validation."""
    epochs = np.arange(len(history["loss"]))
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, metric in zip(axes, ("accuracy", "loss")):
        axis.plot(epochs, history[metric], "o-", label=f"training {metric}")
        axis.plot(epochs, history[f"val_{metric}"], "o-", label=f"validation {metric}")
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    return figure


def image_grid(images: np.ndarray, titles: list[str] | None = None, columns: int = 8,
               title: str = "") -> plt.Figure:
    """Greyscale images (n, 28, 28[, 1]) in [0, 1] in a grid, optionally with a title each."""
    if len(images) == 0:  # e.g. no mistakes to show: say so rather than fail
        figure, axis = plt.subplots(figsize=(4, 1.5))
        axis.axis("off")
        axis.text(0.5, 0.5, "none", ha="center", va="center", fontsize=14)
        figure.suptitle(title)
        return figure
    rows = int(np.ceil(len(images) / columns))
    row_height = 1.9 if titles else 1.5
    figure, axes = plt.subplots(rows, columns, figsize=(1.4 * columns, row_height * rows + 0.4))
    for index, axis in enumerate(np.ravel(axes)):
        axis.axis("off")
        if index < len(images):
            axis.imshow(np.squeeze(images[index]), cmap="gray", vmin=0, vmax=1)
            if titles:
                axis.set_title(titles[index], fontsize=9)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def save(figure: plt.Figure, path: Path) -> bytes:
    """Write the figure as PNG to `path`; returns the PNG (figure_log also sends it to
    TensorBoard)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    with atomic.replacing(path) as temporary:  # a kill leaves the old figure or the new one
        temporary.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def confusion_matrix(counts: np.ndarray) -> plt.Figure:
    """counts[true, predicted] with the counts written in each cell."""
    figure, axis = plt.subplots(figsize=(6.5, 5.5))
    image = axis.imshow(np.log1p(counts), cmap="Blues")
    for (true, predicted), count in np.ndenumerate(counts):
        if count:
            axis.text(predicted, true, str(count), ha="center", va="center", fontsize=8,
                      color="white" if image.norm(np.log1p(count)) > 0.6 else "black")
    axis.set_xticks(range(10))
    axis.set_yticks(range(10))
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title("confusion matrix")
    figure.tight_layout()
    return figure


def reliability_diagram(bin_accuracy: np.ndarray, bin_confidence: np.ndarray,
                        bin_count: np.ndarray, ece: float) -> plt.Figure:
    """Accuracy against confidence per bin; a calibrated model lies on the diagonal."""
    bins = len(bin_accuracy)
    edges = np.linspace(0, 1, bins + 1)
    used = bin_count > 0
    figure, axis = plt.subplots(figsize=(5.5, 5))
    axis.bar(edges[:-1][used], bin_accuracy[used], width=1 / bins, align="edge",
             edgecolor="black", label="accuracy")
    axis.bar(edges[:-1][used], (bin_confidence - bin_accuracy)[used], bottom=bin_accuracy[used],
             width=1 / bins, align="edge", color="red", alpha=0.3, label="gap to confidence")
    axis.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    axis.set_xlabel("confidence")
    axis.set_ylabel("accuracy")
    axis.set_title(f"reliability (ECE {ece:.4f})")
    axis.legend(loc="upper left")
    figure.tight_layout()
    return figure


def predictions(readings, number: bool = False) -> plt.Figure:
    """The article's "model's predictions" figure: each photo, the 28x28 the model saw, the answer.

    `readings`: digits.reading.digit_reader.Reading objects (their `path` is read again for the
    photo).
    """
    rows = max(1, len(readings))
    figure, axes = plt.subplots(rows, 2, figsize=(7 if number else 5, 2.2 * rows), squeeze=False)
    for (photo_axis, seen_axis), reading in zip(axes, readings):
        photo = cv2.imread(reading.path, cv2.IMREAD_UNCHANGED)
        if photo is not None and min(photo.shape[:2]) >= mnist_style.MIN_SIDE:
            photo_axis.imshow(mnist_style.to_grey(photo), cmap="gray", vmin=0, vmax=255)
        photo_axis.set_title(Path(reading.path).name, fontsize=8)
        answer = reading.number if number else reading.digit
        if reading.image is not None:
            seen_axis.imshow(reading.image, cmap="gray", vmin=0, vmax=255)
            seen_axis.set_title(f"read: {answer}  ({reading.confidence:.0%})"
                                + ("  low confidence" if reading.low_confidence else ""),
                                fontsize=9, color="darkorange" if reading.low_confidence
                                else "black")
        else:
            seen_axis.set_title(textwrap.fill(f"no reading: {reading.error}", 32), fontsize=8,
                                color="red")
        photo_axis.axis("off")
        seen_axis.axis("off")
    figure.tight_layout()
    return figure
