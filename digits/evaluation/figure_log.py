"""A run's figures saved as PNG (plots.save) and written to TensorBoard as images.

Apart from digits.evaluation.plots so that drawing a figure (digits-predict --plot, digits-report
--plot) does not load TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from digits.evaluation import plots


def save(figure: plots.plt.Figure, path: Path, writer: tf.summary.SummaryWriter, step: int = 0) -> None:
    """Write the figure as PNG to `path` and as an image named after it to `writer`."""
    png = plots.save(figure, path)
    with writer.as_default():
        tf.summary.image(path.stem, tf.image.decode_png(png, channels=4)[tf.newaxis], step=step)
