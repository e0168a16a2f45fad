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
- unsure_below: the lowest confidence cut that leaves accuracy >= TARGET_ACCURACY on the
  readings above it with at most MAX_FLAGGED of them flagged (else the best trade-off, marked),
  chosen on every photo of the validation robustness suite (clean and under each corruption:
  what users meet, and what the flag's acceptance is measured on); a photo the reader finds no
  digit in counts as flagged.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np

from digits.utils import atomic
from digits.models import model_files
from digits.data import reader_views
from digits.evaluation import robustness
from digits.vision import mnist_style

BINS = 15  # expected calibration error: equal-width confidence bins (digits-evaluate's too)
TARGET_ACCURACY = 0.99  # on readings not flagged unsure (issue 13)
MAX_FLAGGED = 0.10  # share of readings flagged unsure at most
TEMPERATURES = np.exp(np.linspace(np.log(0.05), np.log(20.0), 241))  # searched, then refined
TEMPERATURE_LAYER = "temperature"
RUN_CONFIG = Path(".hydra") / "config.yaml"
OUTPUT_FILES = (model_files.MODEL_FILE, "metrics.json", "COMMAND.md")  # and the run's RUN_CONFIG


class CalibrationError(ValueError):
    """The model cannot be calibrated (it does not end in a softmax Dense, or is calibrated)."""


# --- figures on arrays ----------------------------------------------------------------------
def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = np.asarray(logits, np.float64) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)


def probabilities(member_logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """(members, n, classes) logits -> (n, classes): the members' tempered softmax averaged
    (one member: its softmax)."""
    return softmax(member_logits, temperature).mean(axis=0)


def nll(member_logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    p = probabilities(member_logits, temperature)[np.arange(len(labels)), labels]
    return float(-np.mean(np.log(np.clip(p, 1e-12, 1.0))))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the NLL of `labels`: logits (n, classes) of one model or
    (members, n, classes) of an ensemble. A grid in log T, then a finer grid around its best."""
    member_logits = logits[None] if logits.ndim == 2 else logits
    labels = np.asarray(labels, int)
    grid = TEMPERATURES
    for _ in range(3):
        losses = [nll(member_logits, labels, t) for t in grid]
        best = int(np.argmin(losses))
        low, high = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
        grid = np.exp(np.linspace(np.log(low), np.log(high), 41))
    return float(grid[int(np.argmin([nll(member_logits, labels, t) for t in grid]))])


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, bins: int = BINS):
    """(expected calibration error, per-bin accuracy, per-bin mean confidence, per-bin count)
    over equal-width confidence bins: the ECE sums |accuracy - mean confidence| x the bin's
    share; digits-evaluate draws the bins as a reliability diagram."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    count = np.bincount(index, minlength=bins)
    accuracy = np.bincount(index, weights=correct, minlength=bins) / np.maximum(count, 1)
    mean_confidence = np.bincount(index, weights=confidence, minlength=bins) / np.maximum(count, 1)
    ece = float(np.sum(count / len(confidence) * np.abs(accuracy - mean_confidence)))
    return ece, accuracy, mean_confidence, count


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray,
                               bins: int = BINS) -> float:
    return reliability_bins(confidence, correct, bins)[0]


def flag_figures(confidence: np.ndarray, correct: np.ndarray, unsure_below: float) -> dict:
    """What a cut does: readings with confidence < unsure_below are flagged unsure."""
    kept = confidence >= unsure_below
    return {"flagged_share": float(1 - kept.mean()),
            "unflagged_accuracy": float(correct[kept].mean()) if kept.any() else 1.0}


def choose_threshold(confidence: np.ndarray, correct: np.ndarray,
                     target: float = TARGET_ACCURACY, max_flagged: float = MAX_FLAGGED,
                     always_flagged: np.ndarray | None = None) -> dict:
    """The lowest cut (readings below it flagged) leaving accuracy >= target on the others with
    at most max_flagged flagged. If there is none, the cut within max_flagged that leaves the
    highest accuracy (`target_met` False). Cuts are 0 (nothing flagged) and each confidence.
    `always_flagged` marks readings flagged whatever the cut (a sequence model's line read as
    no digit: number_reader.is_flagged); they count as flagged at every cut, 0 included."""
    n = len(confidence)
    forced = np.zeros(n, bool) if always_flagged is None else np.asarray(always_flagged, bool)
    order = np.argsort(np.asarray(confidence)[~forced], kind="stable")
    confidence = np.asarray(confidence)[~forced][order]
    correct = np.asarray(correct, float)[~forced][order]
    cuts, first = np.unique(confidence, return_index=True)  # flagging `first[i]` readings
    cuts, first = np.concatenate([[0.0], cuts]), np.concatenate([[0], first])
    right_above = correct.sum() - np.concatenate([[0.0], np.cumsum(correct)])[first]
    kept_accuracy = right_above / np.maximum(len(confidence) - first, 1)
    flagged_share = (first + forced.sum()) / n
    within = flagged_share <= max_flagged
    meets = within & (kept_accuracy >= target)
    if meets.any():
        chosen = int(np.argmax(meets))  # the first, i.e. the lowest cut
    else:  # if those flagged anyway exceed the budget already, flag no more
        allowed = within if within.any() else first == 0
        chosen = int(np.flatnonzero(allowed)[np.argmax(kept_accuracy[allowed])])
    return {"unsure_below": float(cuts[chosen]), "flagged_share": float(flagged_share[chosen]),
            "unflagged_accuracy": float(kept_accuracy[chosen]), "target_met": bool(meets.any()),
            "target_accuracy": target, "max_flagged": max_flagged}


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
    """uint8 (n, 28, 28) -> logits (members, n, classes), the input scaled as in training."""
    inputs = images[..., None].astype(np.float32) / 255
    return np.stack([part.predict(inputs, batch_size=500, verbose=0) for part in logit_models])


# --- the data ---------------------------------------------------------------------------------
def read_photo(index: int, digit: np.ndarray) -> tuple[np.ndarray, bool]:
    """The suite's clean photo of digit `index` (robustness's draws), read by mnist_style.to_mnist."""
    rng = np.random.default_rng([robustness.SUITE_SEED, len(robustness.PATHS), index])
    return robustness.read_photo(robustness.photograph(digit, rng))


def run_seed(model_path: str | Path) -> int:
    return int(robustness.run_config(model_path).get("seed", robustness.DEFAULT_SEED))


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
    seed = run_seed(model_path)
    views, view_labels = reader_views.cached(  # data.with_reader_views' first validation copy
        "validation-reader", [images, labels, seed, 0],
        lambda: reader_views.reader_views(images, labels, seed * 1000))
    counts = {"suite_photos": int(readable.sum()), "reader_views": int(len(view_labels)),
              "unreadable": int(2 * len(labels) - readable.sum() - len(view_labels))}
    return (np.concatenate([clean, views]), np.concatenate([labels[readable], view_labels]),
            counts)


def figures(probabilities_: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, correct) of each reading."""
    return probabilities_.max(axis=1), probabilities_.argmax(axis=1) == labels


def suite_figures(model_path: str | Path,
                  model: keras.Model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(confidence, correct, unreadable) of `model` on every photo of the validation robustness
    suite (robustness.SUITE_SIZE digits of model_path's split, clean and under each corruption)."""
    suite = robustness.build_for(model_path, "validation", robustness.SUITE_SIZE)
    names = ("clean",) + robustness.NAMES
    images = np.concatenate([suite.seen["photo", name] for name in names])
    readable = np.concatenate([suite.readable["photo", name] for name in names])
    confidence, correct = figures(robustness.predict(model, images),
                                  np.tile(suite.labels, len(names)))
    return confidence, correct & readable, ~readable


# --- the tool ---------------------------------------------------------------------------------
def run_metrics(model_path: str | Path) -> dict:
    """The metrics.json beside the model, or {} when there is none."""
    path = model_files.resolve(model_path).parent / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def unsure_below(model_path: str | Path, default: float | None) -> float | None:
    """The calibrated low-confidence cut of the model at `model_path` (unsure_below in the
    metrics.json beside it, written by digits-calibrate), else `default`."""
    try:
        value = run_metrics(model_path).get("unsure_below")
    except (OSError, ValueError, AttributeError, model_files.ModelLoadError):
        return default
    return float(value) if isinstance(value, (int, float)) and 0 <= value <= 1 else default


def split_source(model_path: str | Path) -> Path:
    """The model file whose run folder says how the validation split was drawn: the model's own,
    or for a digits-ensemble folder (which has no run config) its first member's (digits-ensemble
    checked that the members share one split)."""
    source = model_files.resolve(model_path)
    if (source.parent / RUN_CONFIG).is_file():
        return source
    members_ = run_metrics(model_path).get("members") or [{}]
    member = Path(members_[0].get("model", ""))
    return member if member.is_file() and (member.parent / RUN_CONFIG).is_file() else source


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
    metrics = run_metrics(model_path)
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
    output.mkdir(parents=True, exist_ok=True)
    atomic.save_model(calibrated, output / model_files.MODEL_FILE)
    atomic.write_text(output / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    atomic.write_text(output / "COMMAND.md", f"Made with:\n\n    {command}\n\nfrom `{source}`.\n")
    run_config = split_source(model_path).parent / RUN_CONFIG
    if run_config.is_file():  # the run's data and seed: DIR's evaluations draw the run's splits
        atomic.write_text(output / RUN_CONFIG, run_config.read_text())
    return metrics
