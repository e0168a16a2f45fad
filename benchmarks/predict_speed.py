"""Prediction speed: warm latency for one 640x480 photo (decode included) and photos/s in batch.

    python benchmarks/predict_speed.py --model outputs/DATE/TIME [--photos N]

Uses the photos in tests/data/photos, re-encoded at 640x480 as a phone upload would be.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from digits.models import model_files
from digits.vision import mnist_style
from digits.vision import image_files
from digits.reading import digit_reader

PHOTOS = Path(__file__).resolve().parent.parent / "tests" / "data" / "photos"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--photos", type=int, default=1000, help="photos in the batch run")
    args = parser.parse_args()
    model = model_files.load(args.model)
    folder = Path(tempfile.mkdtemp())
    paths = []
    for source in sorted(PHOTOS.glob("*.jpg")):
        if "number" in source.name:
            continue
        path = folder / source.name
        cv2.imwrite(str(path), cv2.resize(cv2.imread(str(source)), (640, 480)))
        paths.append(str(path))

    for path in paths:  # warm up: first calls trace and allocate
        digit_reader.read_files(model, [path])
    latencies = []
    for index in range(args.repeats):
        start = time.perf_counter()
        digit_reader.read_files(model, [paths[index % len(paths)]])
        latencies.append(time.perf_counter() - start)
    latencies_ms = np.array(latencies) * 1000
    print(f"single 640x480 photo, warm, decode included: median {np.median(latencies_ms):.2f} ms, "
          f"p90 {np.percentile(latencies_ms, 90):.2f} ms over {args.repeats} calls")

    batch = [paths[i % len(paths)] for i in range(args.photos)]
    start = time.perf_counter()
    readings = digit_reader.read_files(model, batch)
    seconds = time.perf_counter() - start
    assert all(r.error is None for r in readings)
    print(f"batch of {len(batch)} photo files (decode, preprocess in threads, one model call): "
          f"{len(batch) / seconds:.0f} photos/s")
    stages = {"decode": lambda p: image_files.decode(Path(p)),
              "preprocess": lambda p: mnist_style.to_mnist(cv2.imread(p))}
    for name, stage in stages.items():
        start = time.perf_counter()
        for path in batch[:200]:
            stage(path)
        print(f"  {name}: {(time.perf_counter() - start) / 200 * 1000:.2f} ms per photo")


if __name__ == "__main__":
    main()
