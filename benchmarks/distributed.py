"""Two-worker MultiWorkerMirroredStrategy on loopback vs one process at the same global batch.

    python benchmarks/distributed.py [TRAIN_SIZE [EPOCHS [OVERRIDE ...]]]
    python benchmarks/distributed.py 50000 3 model=cnn augmentation=light

Prints both test accuracies (on the same 2000 test images), their difference in points and the
training times. OVERRIDEs are digits-train overrides given to both runs (default: the mlp).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from digits.training.processes import one_process_and_two_workers

train_size = int(sys.argv[1]) if len(sys.argv) > 1 else 6000
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
extra = sys.argv[3:]
with tempfile.TemporaryDirectory() as scratch:
    single, chief = one_process_and_two_workers(Path(scratch), train_size, epochs, extra, 7200)
print(f"train {train_size} images, {epochs} epochs, global batch 64, overrides {extra or 'none'}")
for name, metrics in (("single process    ", single), ("two workers (2x32)", chief)):
    print(f"{name} test accuracy {metrics['test_accuracy']:.4f}"
          f"  ({metrics['train_seconds']:.0f} s training)")
print(f"difference {100 * (chief['test_accuracy'] - single['test_accuracy']):+.2f} points")
