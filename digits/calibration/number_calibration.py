"""digits-calibrate for a sequence model: the whole-number confidence under which a
reading is flagged, chosen on validation numbers, written beside a copy of the model.

No temperature, unlike a single-digit model (calibration.py): a reading's confidence is the CTC
probability of the whole number (crnn.decode: summed over all its alignments, a product over
every step of the line), not one softmax whose logits a temperature rescales. A temperature on
the per-step logits would change that sum in a way no single figure stands for, and the flag
needs no calibrated probability anyway: a cut chosen on validation numbers keeps its promise
(exact >= 0.99 on the readings not flagged) whatever scale the confidence has.

The data: fixed_sets.fixed_set on the run's validation digits (its data config and seed, so
they are digits it never trained on) with VALIDATION_SEED: at least VALIDATION_NUMBERS of them,
or the run's data.validation_count if larger. Each line is read as digits-predict --number reads
one (number_reader.read) and flagged as it flags one (number_reader.is_flagged: a line read as
no digit is flagged whatever the cut). The test split is never read here.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from omegaconf import OmegaConf

from digits.calibration.digit_calibration import CalibrationError
from digits.config.schemas import NumbersDataConfig, data_config
from digits.data import datasets
from digits.data.numbers import composed, fixed_sets
from digits.evaluation import confidence
from digits.models import crnn, model_files, model_folder
from digits.reading import number_reader
from digits.runs import metadata
from digits.vision import mnist_style

VALIDATION_NUMBERS = 2_000  # fixed validation numbers read, at least (the run measured 1 000)


def validation_digits(model_path: str | Path) -> tuple[np.ndarray, np.ndarray, NumbersDataConfig]:
    """(x, y, data config) of the validation digits of the model's run (its saved data config
    and seed; the defaults for a model without a run folder, as digits-evaluate does)."""
    folder = model_files.resolve(model_path).parent
    run_cfg = metadata.run_config(folder)
    run_data = OmegaConf.to_container(run_cfg.get("data") or OmegaConf.create({}))
    cfg = data_config(run_data) if run_data else NumbersDataConfig()
    if not isinstance(cfg, NumbersDataConfig):
        raise CalibrationError(f"{folder / metadata.RUN_CONFIG} says the model was trained on "
                               f"data={cfg.source}, not data=numbers")
    return (*composed.split_arrays(datasets.load(cfg, seed=metadata.seed(run_cfg)), "validation"),
            cfg)


def validation_numbers(model_path: str | Path, count: int | None = None,
                       seed: int = fixed_sets.VALIDATION_SEED,
                       cut: bool = False) -> tuple[list[np.ndarray], list[str]]:
    """(lines, labels) of fixed validation numbers of the model's run (validation_digits):
    `count` of them (default: VALIDATION_NUMBERS, or the run's validation_count if larger),
    drawn with `seed` (another seed than VALIDATION_SEED gives other numbers of the same
    digits); with `cut`, every one photographed and run off the frame's top or bottom edge."""
    x, y, cfg = validation_digits(model_path)
    count = count or max(VALIDATION_NUMBERS, cfg.validation_count)
    cut_photos = {"photo_fraction": 1.0, "cut": 1.0} if cut else {}
    lines, labels, _ = fixed_sets.fixed_set(x, y, count, seed, **cut_photos)
    return lines, labels


def flags(readings: list[crnn.Reading], labels: list[str]) -> dict:
    """The threshold rule of single-digit models (confidence.choose_threshold) on readings of
    known numbers: exact or not, by whole-number confidence; nothing read is always flagged."""
    sure = np.array([reading.confidence for reading in readings])
    exact = np.array([reading.number == label for reading, label in zip(readings, labels)])
    nothing_read = np.array([not reading.number for reading in readings])
    return {"exact_accuracy": float(exact.mean()),
            "expected_calibration_error": confidence.expected_calibration_error(sure, exact),
            **confidence.choose_threshold(sure, exact, always_flagged=nothing_read)}


def calibrate(model_path: str | Path, output: Path, command: str,
              model: keras.Model | None = None) -> dict:
    """Choose unsure_below on the validation numbers; write DIR/model.keras (the model,
    uncompiled: no optimizer state), DIR/metrics.json, DIR/COMMAND.md and the run's
    .hydra/config.yaml; return the metrics."""
    model = model or model_files.load(model_path)
    if not crnn.is_sequence_model(model):
        raise CalibrationError(f"{model.name} does not read whole numbers")
    source = model_files.resolve(model_path)
    metrics = metadata.metrics(source.parent)
    if "calibration" in metrics:
        raise CalibrationError(f"{model.name} is calibrated already (its metrics.json holds a "
                               "calibration)")
    lines, labels = validation_numbers(model_path)
    fit = flags(number_reader.read(model, lines), labels)
    metrics.update({
        "unsure_below": fit["unsure_below"],
        "preprocessing_version": metrics.get("preprocessing_version",
                                             mnist_style.PREPROCESSING_VERSION),
        # runs from before line_version was recorded read version-1 lines
        "line_version": metrics.get("line_version", 1),
        "source": str(source.parent if source.name == model_files.MODEL_FILE else source),
        "command": command,
        "calibration": {
            "data": f"{len(labels)} fixed validation numbers (fixed_sets.fixed_set of the "
                    f"run's validation digits, seed {fixed_sets.VALIDATION_SEED}), each line "
                    "read and flagged as digits-predict --number does",
            "numbers": len(labels), **fit,
            "note": "no temperature: the whole-number confidence is a CTC sequence probability "
                    "(summed over alignments), not one softmax; unsure_below is chosen on it "
                    "as it is",
        },
    })
    uncompiled = keras.models.clone_model(model)  # the same layers and weights, no optimizer
    uncompiled.set_weights(model.get_weights())
    # the run's data and seed: DIR's evaluations draw the run's numbers
    model_folder.write(output, uncompiled, metrics, source.parent, command, source)
    return metrics
