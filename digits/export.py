"""Export entry point: `digits-export RUN_DIR --format {savedmodel,tflite} [--output PATH] [--int8]`.

Keras does the conversion (`model.export`, whose "litert" format drives TensorFlow's TFLite
converter). The export is written to a temporary place first, run on MNIST test images next to the
Keras model, and only moved to its destination when the two agree on enough predicted digits.
The TFLite file is run with LiteRT's interpreter (`ai-edge-litert`, the `export` extra), which
replaces the deprecated `tf.lite.Interpreter`; without it, TensorFlow's interpreter is used.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from digits import data, modelio, pipeline

FORMATS = {"savedmodel": "tf_saved_model", "tflite": "litert"}
CHECK_IMAGES = 1000
# int8 rounds every weight and activation: a few borderline digits may flip, so it gets a looser bar.
MIN_AGREEMENT = {False: 0.999, True: 0.99}
REPRESENTATIVE_IMAGES = 200


class ExportError(RuntimeError):
    """The export disagrees with the Keras model, or cannot be made or written."""


def test_images(count: int = CHECK_IMAGES) -> np.ndarray:
    """The first `count` bundled MNIST test images, as the model takes them."""
    arrays = data.read_npz(Path(str(data.BUNDLED_MNIST)))
    return pipeline.normalise(arrays["x_test"][:count]).numpy()


def representative_dataset():
    """Calibration batches for int8: training images, never the test images checked after."""
    arrays = data.read_npz(Path(str(data.BUNDLED_MNIST)))
    images = pipeline.normalise(arrays["x_train"][:REPRESENTATIVE_IMAGES]).numpy()
    for image in images:
        yield [image[None]]


def tflite_interpreter(path: Path):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tf.lite.Interpreter
    return Interpreter(model_path=str(path))


def predict_tflite(path: Path, images: np.ndarray) -> np.ndarray:
    """Class scores from a .tflite file, one image at a time (as on a phone); int8 handled."""
    interpreter = tflite_interpreter(path)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scores = []
    for image in images:
        x = image[None]
        if inp["dtype"] != np.float32:  # fully quantised input: scale into the integer range
            scale, zero = inp["quantization"]
            x = np.round(x / scale + zero).astype(inp["dtype"])
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        y = interpreter.get_tensor(out["index"])[0]
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        scores.append(y)
    return np.stack(scores)


def predict_savedmodel(path: Path, images: np.ndarray) -> np.ndarray:
    loaded = tf.saved_model.load(str(path))  # kept alive: serve() uses its variables
    return loaded.serve(tf.constant(images)).numpy()


def convert(model: keras.Model, fmt: str, int8: bool, destination: Path) -> None:
    options = {}
    if int8:
        options = {"optimizations": [tf.lite.Optimize.DEFAULT],
                   "representative_dataset": representative_dataset}
    try:
        model.export(str(destination), format=FORMATS[fmt], verbose=False, **options)
    except Exception as error:  # the converters raise many types; all mean "cannot export"
        raise ExportError(f"cannot export to {fmt}: {str(error).strip().splitlines()[0]}") from None


def agreement(model: keras.Model, exported: Path, fmt: str, images: np.ndarray) -> float:
    """Fraction of images on which the export predicts the same digit as the Keras model."""
    expected = np.argmax(model.predict(images, batch_size=500, verbose=0), axis=1)
    predict = predict_tflite if fmt == "tflite" else predict_savedmodel
    return float(np.mean(np.argmax(predict(exported, images), axis=1) == expected))


def default_output(run_dir: Path, fmt: str, int8: bool) -> Path:
    folder = run_dir if run_dir.is_dir() else run_dir.parent
    if fmt == "savedmodel":
        return folder / "savedmodel"
    return folder / ("model_int8.tflite" if int8 else "model.tflite")


def export(model_path: str | Path, fmt: str, output: str | Path | None = None, int8: bool = False,
           images: np.ndarray | None = None) -> tuple[Path, float]:
    """Export, check against the Keras model, then write. Returns (written path, agreement)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {sorted(FORMATS)}")
    if int8 and fmt != "tflite":
        raise ExportError("--int8 applies to --format tflite only")
    model = modelio.load(model_path)
    output = Path(output) if output else default_output(Path(model_path), fmt, int8)
    if output.exists():
        raise ExportError(f"{output} already exists; choose another --output or delete it")
    images = test_images() if images is None else images
    with tempfile.TemporaryDirectory() as scratch:
        candidate = Path(scratch) / ("model.tflite" if fmt == "tflite" else "savedmodel")
        convert(model, fmt, int8, candidate)
        agreed = agreement(model, candidate, fmt, images)
        if agreed < MIN_AGREEMENT[int8]:
            raise ExportError(f"the {fmt} export agrees with the Keras model on only "
                              f"{agreed:.2%} of {len(images)} test images (needs "
                              f"{MIN_AGREEMENT[int8]:.1%}); nothing written")
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(candidate), str(output))
    return output, agreed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="digits-export", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a run folder (its model.keras) or a .keras file")
    parser.add_argument("--format", required=True, choices=sorted(FORMATS))
    parser.add_argument("--output", help="where to write (default: next to the model)")
    parser.add_argument("--int8", action="store_true", help="int8-quantised TFLite")
    args = parser.parse_args(argv)
    try:
        written, agreed = export(args.model, args.format, args.output, args.int8)
    except (ExportError, modelio.ModelLoadError, data.DataError) as error:
        sys.exit(f"digits-export: {error}")
    print(f"agreement with the Keras model: {agreed:.2%} of {CHECK_IMAGES} test images")
    print(f"wrote {written}")


if __name__ == "__main__":
    main()
