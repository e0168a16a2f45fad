"""A trained model exported as a TensorFlow SavedModel or a TFLite file (digits-export), checked
against the Keras model before it is written: on MNIST test images (the same digit), or for a
sequence model on synthetic test numbers (the same decoded number). A sequence model's TFLite
export reads one line of a fixed width, TFLITE_LINE_WIDTH. An export replaces an old one only
once it is complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from digits.config.schemas import DataConfig
from digits.data import datasets, pipeline
from digits.data.numbers import composed, fixed_sets
from digits.models import crnn, model_files
from digits.utils import quiet
from digits.vision import number_lines

CHECK_IMAGES = 1000
REPRESENTATIVE_IMAGES = 200
CHECK_NUMBERS = 200  # synthetic test numbers a sequence model's export is checked on
# TFLite cannot convert a recurrent layer over a line of any width: a sequence model's TFLite
# export reads ONE line of (1, 32, TFLITE_LINE_WIDTH, 1), padded with black on the right
# (number_lines.pad_lines(lines, TFLITE_LINE_WIDTH)); a wider line must be scaled down to fit.
TFLITE_LINE_WIDTH = 512


class UnsupportedExport(ValueError):
    """This model cannot be exported so (a usage error: nothing was tried)."""


def test_images(count: int) -> np.ndarray:
    """`count` stratified MNIST test images, float (n, 28, 28, 1) in [0, 1]."""
    splits = datasets.load(DataConfig(test_size=count, train_size=REPRESENTATIVE_IMAGES), seed=0)
    return np.asarray(pipeline.normalise(splits.x_test)), np.asarray(
        pipeline.normalise(splits.x_train))


def test_numbers(count: int) -> list[np.ndarray]:
    """The lines (uint8, vision.to_line) of `count` fixed synthetic numbers from MNIST's test
    split, but those wider than TFLITE_LINE_WIDTH."""
    x, y = composed.split_arrays(datasets.load(DataConfig(), seed=0), "test")
    lines, _, _ = fixed_sets.fixed_set(x, y, count)
    return [line for line in lines if line.shape[1] <= TFLITE_LINE_WIDTH]


def fixed_width(model: keras.Model) -> keras.Model:
    """The sequence model over one line of TFLITE_LINE_WIDTH columns (the same weights)."""
    line = keras.Input(batch_shape=(1, model.input_shape[1], TFLITE_LINE_WIDTH, 1), name="line")
    return keras.Model(line, model(line), name=model.name)


def tflite_bytes(model: keras.Model, int8: bool, representative: np.ndarray) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:  # weights and activations in int8, calibrated on training images
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None]] for image in representative)
    # The converter prints the Keras export's signature and logs C++ notes: not the user's output.
    with quiet.cpp_log_silenced(stdout=True):
        return converter.convert()


def tflite_predict(content: bytes, images: np.ndarray) -> np.ndarray:
    """Run a TFLite model on a batch (LiteRT's interpreter if installed, else TensorFlow's)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tf.lite.Interpreter
    # tf.lite.Interpreter warns that LiteRT replaces it; the runtime notes its CPU delegate.
    with warnings.catch_warnings(), quiet.cpp_log_silenced():
        warnings.simplefilter("ignore")
        interpreter = Interpreter(model_content=content)
        details = interpreter.get_input_details()[0]
        one_at_a_time = details["shape_signature"][0] != -1  # a fixed batch of one
        if not one_at_a_time:
            interpreter.resize_tensor_input(details["index"], images.shape)
        interpreter.allocate_tensors()
        results = []
        for batch in ([image[None] for image in images] if one_at_a_time else [images]):
            interpreter.set_tensor(details["index"], batch.astype(np.float32))
            interpreter.invoke()
            results.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
        return np.concatenate(results)


def savedmodel_predict(folder: Path, images: np.ndarray) -> np.ndarray:
    loaded = tf.saved_model.load(str(folder))  # keep a reference: .serve needs its variables
    return loaded.serve(tf.constant(images, tf.float32)).numpy()


def agreement(expected: np.ndarray, got: np.ndarray) -> float:
    """The share of inputs read the same: the digit, or a sequence model's decoded number."""
    if expected.ndim == 3:
        return float(np.mean([a.number == b.number for a, b in
                              zip(crnn.decode(expected), crnn.decode(got))]))
    return float(np.mean(expected.argmax(axis=1) == got.argmax(axis=1)))


def default_output(model_path: Path, fmt: str, int8: bool) -> Path:
    folder = model_files.output_folder(model_path)  # ./digit_reader/ for the shipped model
    if fmt == "tflite":
        return folder / ("model_int8.tflite" if int8 else "model.tflite")
    return folder / "saved_model"


def replace_folder(staging: Path, output: Path) -> None:
    """Put `staging` at `output`; an old export there is removed only once the new one is in."""
    output.parent.mkdir(parents=True, exist_ok=True)
    arriving = output.with_name(f".{output.name}.new")
    shutil.rmtree(arriving, ignore_errors=True)
    shutil.move(str(staging), str(arriving))
    leaving = output.with_name(f".{output.name}.old")
    if output.exists():
        shutil.rmtree(leaving, ignore_errors=True)
        os.replace(output, leaving)
    os.replace(arriving, output)
    shutil.rmtree(leaving, ignore_errors=True)


def replace_file(content: bytes, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, output)


def export(model_path: Path, fmt: str, output: Path | None, int8: bool = False,
           min_agreement: float = 0.999,
           check_images: int | None = None) -> tuple[Path, float, str]:
    """Export, check, then write (to `output`, or beside the model); return (what was written,
    agreement with Keras, what it was checked on). Callers check a user's `output` first
    (check_output)."""
    model = model_files.load(model_path)
    if crnn.is_sequence_model(model):
        if int8:
            raise UnsupportedExport("--int8 is not supported for a sequence model (the TFLite "
                                    "converter fails on its recurrent layer)")
        lines = test_numbers(check_images or CHECK_NUMBERS)
        images = number_lines.pad_lines(lines, TFLITE_LINE_WIDTH if fmt == "tflite" else 0)
        representative, checked_on = None, f"{len(images)} synthetic test numbers"
        if fmt == "tflite":
            model = fixed_width(model)
    else:
        images, representative = test_images(check_images or CHECK_IMAGES)
        checked_on = f"{len(images)} MNIST test images"
    expected = model.predict(images, verbose=0)
    output = output or default_output(model_path, fmt, int8)
    with tempfile.TemporaryDirectory() as scratch:
        if fmt == "tflite":
            content = tflite_bytes(model, int8, representative)
            share = agreement(expected, tflite_predict(content, images))
        else:
            staging = Path(scratch) / "saved_model"
            with quiet.cpp_log_silenced():
                model.export(str(staging), format="tf_saved_model", verbose=False)
            share = agreement(expected, savedmodel_predict(staging, images))
        if share < min_agreement:
            raise ValueError(f"the {fmt} export agrees with the Keras model on only {share:.2%} "
                             f"of {checked_on} (< {min_agreement:.2%}); nothing written")
        if fmt == "tflite":
            replace_file(content, output)
        else:
            replace_folder(staging, output)
    return output, share, checked_on
