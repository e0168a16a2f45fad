"""A training step of the shipped number reader's CRNN in float32 against mixed_bfloat16 (bfloat16
compute, float32 weights and logits), side by side in one run, on this machine's CPU:
    python benchmarks/crnn_precision.py [--steps 15] [--width 256] [--rounds 2]
The same model shape (model.filters=[32,64,128,128], model.paired_blocks=2, model.units=128),
compiled by crnn.training_model (Keras' CTC loss), batch 64 of random lines 32 x --width: time per step only, nothing
about accuracy (a whole run, trainer.precision=mixed_bfloat16, read as well as float32 in 1.23x
less time: docs/numbers.md, "Training in bfloat16").
Policies alternate --rounds times, so a change in the machine's load shows as a spread."""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np

from digits.models import crnn
from digits.config.models import CrnnConfig

POLICIES = ("float32", "mixed_bfloat16")


def step_ms(policy: str, steps: int, width: int) -> float:
    """Milliseconds per training step of a CRNN built under `policy` (after two warm-up steps)."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = crnn.crnn(CrnnConfig(filters=[32, 64, 128, 128], paired_blocks=2, units=128))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    trainable = crnn.training_model(model)
    rng = np.random.default_rng(0)
    lines = rng.random((64, 32, width, 1), dtype=np.float32)
    labels = rng.integers(1, 11, (64, 8)).astype(np.int32)
    for _ in range(2):
        trainable.train_on_batch(lines, labels)
    start = time.perf_counter()
    for _ in range(steps):
        trainable.train_on_batch(lines, labels)
    return (time.perf_counter() - start) / steps * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15, help="timed steps per policy (15)")
    parser.add_argument("--width", type=int, default=256, help="line width in pixels (256)")
    parser.add_argument("--rounds", type=int, default=2, help="times each policy is timed (2)")
    args = parser.parse_args()
    times = {policy: [] for policy in POLICIES}
    for _ in range(args.rounds):
        for policy in POLICIES:
            times[policy].append(step_ms(policy, args.steps, args.width))
    for policy in POLICIES:
        print(f"{policy:16} " + " ".join(f"{ms:6.0f}" for ms in times[policy]) + " ms per step")
    ratio = np.median(times["float32"]) / np.median(times["mixed_bfloat16"])
    print(f"mixed_bfloat16 is {ratio:.2f}x as fast as float32 (medians)")


if __name__ == "__main__":
    main()
