"""An honest "unsure": temperature scaling and a low-confidence threshold, both chosen on the
validation photo path, baked into a model that plain Keras loads.

The data, what digits-predict meets: every digit of the model's validation split (drawn as its
run drew it, robustness.run_split) photographed twice and read back through mnist_style.to_mnist: once
as the robustness suite's photo path does without a corruption (a neat photo), once as
data=handwriting's reader view (reader_data: other pens, slant, outlines, damaged photos). Photos
in which the reader finds no digit give no reading and take no part. The test split is never
read here.

- temperature: T minimising the negative log-likelihood of softmax(logits / T);
- the calibrated model: the model ending in a linear Dense (the same weights), then
  Rescaling(1 / T) and Softmax: built-in layers only. An ensemble (digits-ensemble: members'
  probabilities averaged) gets the temperature in each member before the average, T fitted for
  the averaged probabilities;
- unsure_below: the lowest confidence cut that leaves accuracy >= confidence.TARGET_ACCURACY
  on the readings above it with at most confidence.MAX_FLAGGED of them flagged (else the best
  trade-off, marked), chosen on every photo of the validation robustness suite (clean and under
  each corruption: what users meet, and what the flag's acceptance is measured on); a photo the
  reader finds no digit in counts as flagged.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np

from digits.data import reader_views
from digits.evaluation import robustness
from digits.evaluation.confidence import (choose_threshold, expected_calibration_error, figures,
                                          fit_temperature, nll, probabilities)
from digits.models import inference, model_files, model_folder
from digits.runs import metadata
from digits.vision import mnist_style

TEMPERATURE_LAYER = "temperature"
# What DIR gets (and the run's .hydra/config.yaml)
OUTPUT_FILES = (model_files.MODEL_FILE, metadata.METRICS_FILE, model_folder.COMMAND_FILE)


class CalibrationError(ValueError):
    """The model cannot be calibrated (it does not end in a softmax Dense, or is calibrated)."""


# --- the model --------------------------------------------------------------------------------
def logits_model(model: keras.Model) -> keras.Model:
    """A copy of a model ending in Dense(softmax) that ends in the same Dense, linear: its
    logits. Weights copied; never compiled (no optimizer state)."""
    last = model.layers[-1]
    if not (isinstance(last, keras.layers.Dense)
            and keras.activations.serialize(last.activation) == "softmax"):
        raise CalibrationError(
            f"{model.name} ends in {type(last).__name__} {last.name!r}, not a softmax Dense "
            "layer" + (": it is calibrated already" if last.name.startswith("probabilities")
                       else ""))

    def copy(layer):
        config = layer.get_config()
        if layer is last:
            config["activation"] = "linear"
        return type(layer).from_config(config)

    copied = keras.models.clone_model(model, clone_function=copy)
    copied.set_weights(model.get_weights())
    return copied


def members(model: keras.Model) -> list[keras.Model]:
    """An ensemble's members (digits-ensemble: sub-models averaged), or [model]."""
    if not model_files.is_ensemble(model):
        return [model]
    inner = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if not inner or not isinstance(model.layers[-1], keras.layers.Average):
        raise CalibrationError(f"{model.name} is not an average of member models")
    return inner


def tempered(logits: keras.Model, temperature: float, name: str) -> keras.KerasTensor:
    scaled = keras.layers.Rescaling(1.0 / temperature, name=f"{TEMPERATURE_LAYER}_{name}")
    return keras.layers.Softmax(name=f"probabilities_{name}")(scaled(logits.outputs[0]))


def with_temperature(model: keras.Model, temperature: float) -> keras.Model:
    """The model giving softmax(logits / temperature) (per member, then averaged, for an
    ensemble), from built-in layers only: loads in plain Keras with safe_mode=True."""
    parts = [logits_model(member) for member in members(model)]
    if not model_files.is_ensemble(model):
        return keras.Model(parts[0].inputs, tempered(parts[0], temperature, "0"),
                           name=model.name)
    inputs = keras.Input(model.input_shape[1:])
    outputs = []
    for index, part in enumerate(parts):
        part.name = f"member_{index}_logits"
        outputs.append(tempered(keras.Model(inputs, part(inputs), name=part.name),
                                temperature, str(index)))
    return keras.Model(inputs, keras.layers.Average(name="mean_probability")(outputs),
                       name=f"{model.name}_calibrated")


def member_logits(logit_models: list[keras.Model], images: np.ndarray) -> np.ndarray:
    """uint8 (n, 28, 28) -> logits (members, n, classes)."""
    return np.stack([inference.predict(part, images) for part in logit_models])


# --- the data ---------------------------------------------------------------------------------
def read_photo(index: int, digit: np.ndarray) -> tuple[np.ndarray, bool]:
    """The suite's clean photo of digit `index` (robustness's draws), read by mnist_style.to_mnist."""
    rng = np.random.default_rng([robustness.SUITE_SEED, len(robustness.PATHS), index])
    return robustness.read_photo(robustness.photograph(digit, rng))


def validation_photos(model_path: str | Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """(read 28x28 images, labels, counts) of every digit of the model's validation split twice:
    the robustness suite's clean photo, and the reader view data=handwriting validates on
    (reader_data: pen weight, slant, outlines, photo damage; cached as training caches it).
    Photos in which the reader finds no digit are left out (counted)."""
    images, labels = robustness.run_split(model_path, "validation")
    with ThreadPoolExecutor(os.cpu_count()) as pool:  # OpenCV releases the GIL
        read = list(pool.map(read_photo, range(len(images)), images))
    readable = np.array([ok for _, ok in read])
    clean = np.stack([image for image, _ in read])[readable]
    seed = metadata.seed(metadata.run_config(model_files.resolve(model_path).parent))
    views, view_labels = reader_views.cached(  # data.with_reader_views' first validation copy
        "validation-reader", [images, labels, seed, 0],
        lambda: reader_views.reader_views(images, labels, seed * 1000))
    counts = {"suite_photos": int(readable.sum()), "reader_views": int(len(view_labels)),
              "unreadable": int(2 * len(labels) - readable.sum() - len(view_labels))}
    return (np.concatenate([clean, views]), np.concatenate([labels[readable], view_labels]),
            counts)


def suite_figures(model_path: str | Path,
                  model: keras.Model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(confidence, correct, unreadable) of `model` on every photo of the validation robustness
    suite (robustness.SUITE_SIZE digits of model_path's split, clean and under each corruption)."""
    suite = robustness.build_for(model_path, "validation", robustness.SUITE_SIZE)
    names = ("clean",) + robustness.NAMES
    images = np.concatenate([suite.seen["photo", name] for name in names])
    readable = np.concatenate([suite.readable["photo", name] for name in names])
    confidence, correct = figures(inference.predict(model, images),
                                  np.tile(suite.labels, len(names)))
    return confidence, correct & readable, ~readable


# --- the tool ---------------------------------------------------------------------------------
def split_source(model_path: str | Path) -> Path:
    """The model file whose run folder says how the validation split was drawn: the model's own,
    or for a digits-ensemble folder (which has no run config) its first member's (digits-ensemble
    checked that the members share one split)."""
    source = model_files.resolve(model_path)
    if metadata.has_run_config(source.parent):
        return source
    members_ = metadata.metrics(source.parent).get("members") or [{}]
    member = Path(members_[0].get("model", ""))
    return member if member.is_file() and metadata.has_run_config(member.parent) else source


def calibrate(model_path: str | Path, output: Path, command: str,
              model: keras.Model | None = None) -> dict:
    """Fit, bake and write DIR/model.keras, DIR/metrics.json and DIR/COMMAND.md; the metrics.
    `model`: the model at model_path, if loaded already."""
    model = model or model_files.load(model_path)
    if any(layer.name.startswith(TEMPERATURE_LAYER) for layer in model.layers):
        raise CalibrationError(f"{model.name} is calibrated already (it has a temperature layer)")
    logits_models = [logits_model(member) for member in members(model)]  # refused before work
    images, labels, counts = validation_photos(split_source(model_path))
    logits = member_logits(logits_models, images)
    temperature = fit_temperature(logits, labels)
    before = figures(probabilities(logits), labels)
    after = figures(probabilities(logits, temperature), labels)
    calibrated = with_temperature(model, temperature)
    confidence, correct, unreadable = suite_figures(split_source(model_path), calibrated)
    threshold = choose_threshold(confidence, correct, always_flagged=unreadable)
    source = model_files.resolve(model_path)
    metrics = metadata.metrics(source.parent)
    metrics.update({
        "temperature": temperature,
        "unsure_below": threshold["unsure_below"],
        "preprocessing_version": metrics.get("preprocessing_version",
                                             mnist_style.PREPROCESSING_VERSION),
        "source": str(source.parent if source.name == model_files.MODEL_FILE else source),
        "command": command,
        "calibration": {
            "data": "validation photo path: every validation digit photographed as the "
                    "robustness suite does (no corruption) and as data=handwriting's reader "
                    "view, each read by mnist_style.to_mnist",
            "images": int(len(labels)), **counts,
            "accuracy": float(after[1].mean()),
            "ece_before": expected_calibration_error(*before),
            "ece_after": expected_calibration_error(*after),
            "nll_before": nll(logits, labels, 1.0), "nll_after": nll(logits, labels, temperature),
            "unsure_below_chosen_on": "every photo of the validation robustness suite "
                                      f"({robustness.SUITE_SIZE} digits, clean and under each "
                                      "corruption; unreadable photos count as flagged)",
            **threshold,
            "note": "the test figures and expected_calibration_error above are the source "
                    "model's, before calibration (a temperature changes no single model's "
                    "answers, only its confidence)",
        },
    })
    # the run's data and seed: DIR's evaluations draw the run's splits
    model_folder.write(output, calibrated, metrics, split_source(model_path).parent, command,
                       source)
    return metrics
