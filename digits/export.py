"""Export entry point: `digits-export RUN_DIR --format {savedmodel,tflite} [--output PATH]`.

The export is checked against the Keras model on MNIST test images before it is written: the
share of images on which both give the same digit is printed, and an export that agrees less than
`--min-agreement` is not written.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from digits import data, modelio, pipeline
from digits.config import DataConfig

CHECK_IMAGES = 1000
REPRESENTATIVE_IMAGES = 200


def test_images(count: int) -> np.ndarray:
    """`count` stratified MNIST test images, float (n, 28, 28, 1) in [0, 1]."""
    splits = data.load(DataConfig(test_size=count, train_size=REPRESENTATIVE_IMAGES), seed=0)
    return np.asarray(pipeline.normalise(splits.x_test)), np.asarray(
        pipeline.normalise(splits.x_train))


def tflite_bytes(model: keras.Model, int8: bool, representative: np.ndarray) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:  # weights and activations in int8, calibrated on training images
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None]] for image in representative)
    return converter.convert()


def tflite_predict(content: bytes, images: np.ndarray) -> np.ndarray:
    """Run a TFLite model on a batch (LiteRT's interpreter if installed, else TensorFlow's)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        with warnings.catch_warnings():  # tf.lite.Interpreter warns that LiteRT replaces it
            warnings.simplefilter("ignore")
            Interpreter = tf.lite.Interpreter
    interpreter = Interpreter(model_content=content)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, images.astype(np.float32))
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def savedmodel_predict(folder: Path, images: np.ndarray) -> np.ndarray:
    loaded = tf.saved_model.load(str(folder))  # keep a reference: .serve needs its variables
    return loaded.serve(tf.constant(images, tf.float32)).numpy()


def agreement(expected: np.ndarray, got: np.ndarray) -> float:
    return float(np.mean(expected.argmax(axis=1) == got.argmax(axis=1)))


def export(run_dir: Path, fmt: str, output: Path | None, int8: bool = False,
           min_agreement: float = 0.999, check_images: int = CHECK_IMAGES) -> tuple[Path, float]:
    """Export, check, then write; return (what was written, agreement with Keras)."""
    model = modelio.load(run_dir)
    images, representative = test_images(check_images)
    expected = model.predict(images, verbose=0)
    folder = modelio.resolve(run_dir).parent
    if fmt == "tflite":
        output = output or folder / ("model_int8.tflite" if int8 else "model.tflite")
        content = tflite_bytes(model, int8, representative)
        share = agreement(expected, tflite_predict(content, images))
    else:
        output = output or folder / "saved_model"
        staging = Path(tempfile.mkdtemp()) / "saved_model"
        model.export(str(staging), format="tf_saved_model", verbose=False)
        share = agreement(expected, savedmodel_predict(staging, images))
    if share < min_agreement:
        raise ValueError(f"the {fmt} export agrees with the Keras model on only {share:.2%} of "
                         f"{len(images)} test images (< {min_agreement:.2%}); nothing written")
    if fmt == "tflite":
        output.write_bytes(content)
    else:
        shutil.rmtree(output, ignore_errors=True)
        shutil.move(str(staging), str(output))
    return output, share


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="digits-export", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run folder or a .keras file")
    parser.add_argument("--format", choices=("savedmodel", "tflite"), required=True)
    parser.add_argument("--output", type=Path, help="file (tflite) or folder (savedmodel)")
    parser.add_argument("--int8", action="store_true", help="tflite: int8 quantisation")
    parser.add_argument("--min-agreement", type=float,
                        help="refuse exports agreeing less (default 0.999; 0.99 with --int8)")
    args = parser.parse_args(argv)
    if args.int8 and args.format != "tflite":
        parser.error("--int8 goes with --format tflite")
    min_agreement = args.min_agreement or (0.99 if args.int8 else 0.999)
    try:
        output, share = export(args.run_dir, args.format, args.output, args.int8, min_agreement)
    except (modelio.ModelLoadError, ValueError, OSError) as error:
        print(f"digits-export: {error}", file=sys.stderr)
        return 1
    print(f"agreement with the Keras model: {share:.2%} of {CHECK_IMAGES} MNIST test images")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
