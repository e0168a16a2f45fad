"""A single-digit model measured on test images (digits-evaluate): accuracy and loss, accuracy on
inverted digits, per-class precision / recall / F1, a confusion matrix, a gallery of the most
confident mistakes and calibration (expected calibration error and a reliability diagram),
written as evaluation.json, plots/*.png and TensorBoard images.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from digits.config.schemas import DataConfig
from digits.data import datasets, pipeline
from digits.evaluation import figure_log, plots
from digits.evaluation.confidence import reliability_bins
from digits.models import inference, model_files
from digits.runs import metadata
from digits.utils import atomic

GALLERY_SIZE = 24
FILES = ["evaluation.json", "plots/confusion_matrix.png", "plots/errors.png",
         "plots/reliability.png"]


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """counts[true, predicted]."""
    return np.bincount(labels.astype(int) * 10 + predicted, minlength=100).reshape(10, 10)


def per_class_scores(confusion: np.ndarray) -> dict[str, dict[str, float]]:
    true_positives = np.diag(confusion).astype(float)
    precision = true_positives / np.maximum(confusion.sum(axis=0), 1)
    recall = true_positives / np.maximum(confusion.sum(axis=1), 1)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return {str(digit): {"precision": float(precision[digit]), "recall": float(recall[digit]),
                         "f1": float(f1[digit]), "support": int(confusion[digit].sum())}
            for digit in range(10)}


def evaluate(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> dict:
    """Every figure of merit for uint8 `images`; plus the arrays the plots need under `_arrays`."""
    probabilities = inference.predict(model, images)
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    correct = predicted == labels
    true_probability = probabilities[np.arange(len(labels)), labels.astype(int)]
    inverted = inference.predict(model, pipeline.invert(images)).argmax(axis=1)
    confusion = confusion_matrix(labels, predicted)
    ece, bin_accuracy, bin_confidence, bin_count = reliability_bins(confidence, correct)
    return {
        "test_accuracy": float(correct.mean()),
        "test_loss": float(-np.mean(np.log(np.clip(true_probability, 1e-7, 1.0)))),
        "inverted_test_accuracy": float((inverted == labels).mean()),
        "expected_calibration_error": ece,
        "errors": int((~correct).sum()),
        "images": int(len(labels)),
        "per_class": per_class_scores(confusion),
        "confusion_matrix": confusion.tolist(),
        "_arrays": {"predicted": predicted, "confidence": confidence, "bin_accuracy": bin_accuracy,
                    "bin_confidence": bin_confidence, "bin_count": bin_count},
    }


def write_figures(result: dict, images: np.ndarray, labels: np.ndarray, run_dir: Path) -> None:
    """plots/*.png under `run_dir` (a run folder or one of its evaluations/NAME), also as images
    in its tensorboard/evaluation."""
    arrays = result["_arrays"]
    writer = tf.summary.create_file_writer(str(run_dir / "tensorboard" / "evaluation"))
    figure_log.save(plots.confusion_matrix(np.array(result["confusion_matrix"])),
               run_dir / "plots" / "confusion_matrix.png", writer)
    mistakes = np.flatnonzero(arrays["predicted"] != labels)
    worst = mistakes[np.argsort(-arrays["confidence"][mistakes])][:GALLERY_SIZE]
    titles = [f"true {labels[i]} → {arrays['predicted'][i]}\n{arrays['confidence'][i]:.0%}"
              for i in worst]
    figure_log.save(plots.image_grid(images[worst] / 255.0, titles,
                                title="most confident mistakes (true → predicted, confidence)"),
               run_dir / "plots" / "errors.png", writer)
    figure_log.save(plots.reliability_diagram(arrays["bin_accuracy"], arrays["bin_confidence"],
                                         arrays["bin_count"], result["expected_calibration_error"]),
               run_dir / "plots" / "reliability.png", writer)
    writer.close()


def test_split(run_dir: Path, data_path: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The test images the run was measured on (its saved data config), or those of `data_path`."""
    if data_path is not None and Path(data_path).is_dir():  # a folder of photos: all are tests
        return datasets.read_folder(Path(data_path))
    run_cfg = metadata.run_config(run_dir)
    cfg = metadata.data(run_cfg) if data_path is None else DataConfig(path=data_path, val_size=1)
    splits = datasets.load(cfg, seed=metadata.seed(run_cfg))
    return splits.x_test, splits.y_test


def report(result: dict) -> str:
    lines = [f"test accuracy {result['test_accuracy']:.4f}   loss {result['test_loss']:.4f}   "
             f"inverted accuracy {result['inverted_test_accuracy']:.4f}   "
             f"ECE {result['expected_calibration_error']:.4f}   "
             f"errors {result['errors']} of {result['images']}",
             "", "digit  precision  recall     f1  support"]
    for digit, scores in result["per_class"].items():
        lines.append(f"{digit:>5}  {scores['precision']:9.4f}  {scores['recall']:6.4f}  "
                     f"{scores['f1']:.4f}  {scores['support']:7d}")
    return "\n".join(lines)


def output_folder(run_dir: Path, data_path: str | None) -> Path:
    """Where an evaluation is written: the run folder itself for its own test split, else
    RUN_DIR/evaluations/NAME, NAME from the data path's stem (other.npz, photos/ -> photos)."""
    if data_path is None:
        return run_dir
    name = Path(data_path).expanduser().resolve().stem or "data"
    return run_dir / "evaluations" / name


def run(model_path: Path, data_path: str | None = None,
        model: keras.Model | None = None) -> tuple[dict, Path]:
    """Evaluate, write evaluation.json and the figures; return (the result, where it went)."""
    model = model or model_files.load(model_path)
    run_dir = model_files.resolve(model_path).parent
    images, labels = test_split(run_dir, data_path)
    result = evaluate(model, images, labels)
    out_dir = output_folder(model_files.output_folder(model_path), data_path)
    write_figures(result, images, labels, out_dir)
    result.pop("_arrays")
    if data_path is not None:
        result["data"] = str(Path(data_path).expanduser().resolve())
    atomic.write_text(out_dir / "evaluation.json", json.dumps(result, indent=2) + "\n")
    return result, out_dir


def accuracies(model: keras.Model, splits: datasets.Splits) -> dict:
    """Validation accuracy (what to choose on), test and inverted test accuracy (the outcome)."""
    val = evaluate(model, splits.x_val, splits.y_val)["test_accuracy"]
    test = evaluate(model, splits.x_test, splits.y_test)
    return {"val_accuracy": val, "test_accuracy": test["test_accuracy"],
            "inverted_test_accuracy": test["inverted_test_accuracy"]}
