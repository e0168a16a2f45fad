"""Measure a trained model: `digits-evaluate --model RUN_DIR [--data FILE.npz | DIR]`.

Test accuracy and loss, accuracy on inverted digits, per-class precision / recall / F1, a confusion
matrix, a gallery of the most confident mistakes and calibration (expected calibration error and a
reliability diagram). On the run's own test split they go to RUN_DIR/evaluation.json,
RUN_DIR/plots and RUN_DIR/tensorboard/evaluation; with --data PATH to
RUN_DIR/evaluations/NAME/ (NAME: the data's file or folder name), never over the run's own.
With --robustness: the robustness suite (docs/robustness.md) in RUN_DIR/evaluations/robustness/.
A sequence model (model=crnn) is measured on the fixed synthetic test numbers instead
(digits/evaluation/evaluate_numbers.py): exact-number accuracy and CER by length and spacing, misread numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from omegaconf import OmegaConf

from digits import cli
from digits.utils import atomic
from digits.data import datasets
from digits.evaluation import evaluate_numbers
from digits.models import model_files
from digits.data import pipeline
from digits.evaluation import plots
from digits.models import crnn
from digits.calibration.digit_calibration import reliability_bins
from digits.config.schemas import DataConfig, data_config

GALLERY_SIZE = 24
BATCH_SIZE = 512


def predict_probabilities(model: keras.Model, images: np.ndarray) -> np.ndarray:
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(BATCH_SIZE).map(pipeline.normalise)
    return model.predict(dataset, verbose=0)


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
    probabilities = predict_probabilities(model, images)
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    correct = predicted == labels
    true_probability = probabilities[np.arange(len(labels)), labels.astype(int)]
    inverted = predict_probabilities(model, pipeline.invert(images)).argmax(axis=1)
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
    plots.save(plots.confusion_matrix(np.array(result["confusion_matrix"])),
               run_dir / "plots" / "confusion_matrix.png", writer)
    mistakes = np.flatnonzero(arrays["predicted"] != labels)
    worst = mistakes[np.argsort(-arrays["confidence"][mistakes])][:GALLERY_SIZE]
    titles = [f"true {labels[i]} → {arrays['predicted'][i]}\n{arrays['confidence'][i]:.0%}"
              for i in worst]
    plots.save(plots.image_grid(images[worst] / 255.0, titles,
                                title="most confident mistakes (true → predicted, confidence)"),
               run_dir / "plots" / "errors.png", writer)
    plots.save(plots.reliability_diagram(arrays["bin_accuracy"], arrays["bin_confidence"],
                                         arrays["bin_count"], result["expected_calibration_error"]),
               run_dir / "plots" / "reliability.png", writer)
    writer.close()


def test_split(run_dir: Path, data_path: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The test images the run was measured on (its saved data config), or those of `data_path`."""
    saved = run_dir / ".hydra" / "config.yaml"
    run_cfg = OmegaConf.load(saved) if saved.is_file() else OmegaConf.create({})
    if data_path is not None and Path(data_path).is_dir():  # a folder of photos: all are tests
        return datasets.read_folder(Path(data_path))
    cfg = data_config(run_cfg.get("data", {}))
    if data_path is not None:
        cfg = DataConfig(path=data_path, val_size=1)
    splits = datasets.load(cfg, seed=run_cfg.get("seed", 42))
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


EXAMPLES = """\
  digits-evaluate --model outputs/2026-01-01/12-00-00
      the run's own test split: RUN/evaluation.json, RUN/plots/*.png
  digits-evaluate --model RUN --data other.npz
      the test arrays of other.npz: RUN/evaluations/other/
  digits-evaluate --model RUN --data my_digits/
      every photo in my_digits/0 .. my_digits/9: RUN/evaluations/my_digits/
  digits-evaluate --model RUN --robustness [--split test]
      the robustness suite (docs/robustness.md): RUN/evaluations/robustness/validation/
  digits-evaluate --model CRNN_RUN
      a sequence model, on the fixed synthetic numbers: RUN/evaluation.json, plots/errors.png"""


PROG = "digits-evaluate"


def build_parser() -> cli.Parser:
    parser = cli.Parser(PROG, __doc__.strip(), EXAMPLES)
    cli.add_model(parser, positional_deprecated=True)
    parser.add_argument("--data", metavar="PATH",
                        help="evaluate on the test arrays of this .npz, or on every photo in this "
                        "folder of sub-folders 0 .. 9, instead of the run's own test split")
    parser.add_argument("--overwrite", action="store_true",
                        help="beside a .keras file outside a run folder: replace an "
                        "evaluation.json or plots/ found there")
    parser.add_argument("--robustness", action="store_true",
                        help="measure the robustness suite instead: MNIST digits under 21 "
                        "corruptions, raw and as photos (docs/robustness.md)")
    parser.add_argument("--split", choices=("validation", "test"),
                        help="with --robustness: build the suite from this split (validation; "
                        "test only for a final report)")
    return parser


FILES = ["evaluation.json", "plots/confusion_matrix.png", "plots/errors.png",
         "plots/reliability.png"]


def robustness_command(model_path: Path, args) -> int:
    """--robustness: the logic is digits.evaluation.robustness's; this checks the options and prints."""
    from digits.evaluation import robustness

    if not args.robustness:
        raise cli.CommandError("--split goes with --robustness")
    if args.data is not None:
        raise cli.CommandError("--robustness measures MNIST's own split: leave out --data")
    split = args.split or "validation"
    try:
        folder = model_files.output_folder(model_path)
        out_dir = robustness.output_folder(model_path, split).relative_to(folder)
        cli.refuse_outside_run_folder(folder, [str(out_dir / name)
                                               for name in robustness.OUTPUT_FILES],
                                      args.overwrite)
        result, out_dir = robustness.run(model_path, split)
    except model_files.ModelLoadError as error:
        raise cli.CommandError(str(error), cli.USAGE) from None
    except datasets.DataError as error:
        raise cli.CommandError(str(error), cli.FAILED) from None
    print(robustness.table({folder.name: result}))
    print(f"\nWrote {', '.join(robustness.OUTPUT_FILES)} and tensorboard/ in {out_dir}")
    return cli.OK


def numbers_command(model_path: Path, model: keras.Model, args) -> int:
    """A sequence model: the fixed synthetic test numbers (digits.evaluation.evaluate_numbers)."""
    if args.robustness or args.split:
        raise cli.CommandError("--robustness measures single-digit models; this model reads "
                               "whole numbers (a sequence model)")
    if args.data is not None:
        raise cli.CommandError("a sequence model is measured on the fixed synthetic test numbers "
                               "only: leave out --data")
    folder = model_files.output_folder(model_path)
    cli.refuse_outside_run_folder(folder, evaluate_numbers.FILES, args.overwrite)
    try:
        result, out_dir = evaluate_numbers.run(model_path, model)
    except datasets.DataError as error:
        raise cli.CommandError(str(error), cli.FAILED) from None
    print(evaluate_numbers.report(result))
    print(f"\nWrote {' and '.join(evaluate_numbers.FILES)} in {out_dir}")
    return cli.OK


def command(args) -> int:
    model_path = cli.model_path(PROG, args)
    try:
        model = model_files.load(model_path)
    except model_files.ModelLoadError as error:
        raise cli.CommandError(str(error), cli.USAGE) from None
    if crnn.is_sequence_model(model):
        return numbers_command(model_path, model, args)
    if args.robustness or args.split:
        return robustness_command(model_path, args)
    try:
        folder = model_files.output_folder(model_path)
        out_dir = output_folder(folder, args.data).relative_to(folder)
        cli.refuse_outside_run_folder(folder, [str(out_dir / name) for name in FILES],
                                      args.overwrite)
        result, out_dir = run(model_path, args.data, model)
    except model_files.ModelLoadError as error:
        raise cli.CommandError(str(error), cli.USAGE) from None
    except datasets.DataError as error:
        raise cli.CommandError(str(error), cli.FAILED) from None
    print(report(result))
    print(f"\nWrote evaluation.json and plots/confusion_matrix.png, errors.png, reliability.png "
          f"in {out_dir}")
    return cli.OK


def main(argv: list[str] | None = None) -> int:
    return cli.run(PROG, lambda: command(build_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
