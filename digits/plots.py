"""matplotlib figures of a run, saved as PNG and also written to TensorBoard as images."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: runs are headless
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


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
    rows = int(np.ceil(len(images) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(1.4 * columns, 1.5 * rows + 0.4))
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


def save(figure: plt.Figure, path: Path, writer: tf.summary.SummaryWriter | None = None,
         step: int = 0) -> None:
    """Write the figure as PNG to `path` and, if given, as an image to a TensorBoard writer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    path.write_bytes(buffer.getvalue())
    if writer is not None:
        image = tf.image.decode_png(buffer.getvalue(), channels=4)[tf.newaxis]
        with writer.as_default():
            tf.summary.image(path.stem, image, step=step)
