"""The models a server reads with: a digit model (digit mode, and numbers cut into digits) and a
sequence model (numbers read whole), each with its own unsure cut, warmed up before serving."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from digits.models import crnn, model_files
from digits.reading import digit_reader, number_reader
from digits.runs import metadata


@dataclass
class Served:
    """A model being served, where it was loaded from, and the confidence under which its
    readings are flagged (a digit's for a digit model, a whole number's for a sequence model)."""

    model: keras.Model
    path: Path
    unsure_below: float

    @property
    def reads_lines(self) -> bool:
        return crnn.is_sequence_model(self.model)

    def describe(self) -> dict:
        """What /api/health says of it: name, path, what it reads, size, its run's metrics."""
        return {"name": self.model.name, "path": str(self.path),
                "reads": "numbers" if self.reads_lines else "digits",
                "parameters": int(self.model.count_params()),
                "unsure_below": self.unsure_below,
                "metrics": metadata.metrics(self.path.parent) or None}


def serve(model: keras.Model, model_path: str | Path,
          min_confidence: float | None = None) -> Served:
    """`model` ready to serve: its unsure cut is `min_confidence`, else the model's own
    (number_reader.unsure_below for a sequence model, the digit model's calibrated unsure_below or
    digit_reader.MIN_CONFIDENCE otherwise), and it has read once, so the first request does not
    wait for tracing."""
    path = model_files.resolve(model_path)
    if crnn.is_sequence_model(model):
        cut = number_reader.unsure_below(path) if min_confidence is None else min_confidence
        number_reader.read(model, [np.zeros((32, 64), np.uint8)])
    else:
        cut = (metadata.unsure_below(path.parent, digit_reader.MIN_CONFIDENCE)
               if min_confidence is None else min_confidence)
        digit_reader.classify(model, [np.zeros((28, 28), np.uint8)])
    return Served(model, path, cut)


def digit_and_number(model: keras.Model, model_path: str | Path,
                     number_model: keras.Model | None = None,
                     number_model_path: str | Path | None = None,
                     min_confidence: float | None = None) -> tuple[Served | None, Served | None]:
    """(the digit model, the sequence model), either None when not served. `model` is the digit
    model, unless it is a sequence model: then it alone is served, for numbers. `number_model`
    must be a sequence model. `min_confidence` overrides the digit model's cut."""
    first = serve(model, model_path, min_confidence)
    if first.reads_lines:
        if number_model is not None:
            raise ValueError("two sequence models: give the digit model first")
        return None, first
    if number_model is None:
        return first, None
    if not crnn.is_sequence_model(number_model):
        raise ValueError(f"the number model {number_model_path} is not a sequence model "
                         "(model=crnn)")
    return first, serve(number_model, number_model_path)
