"""Two-worker MultiWorkerMirroredStrategy on loopback vs one process at the same global batch.

    python benchmarks/distributed.py [TRAIN_SIZE [EPOCHS [OVERRIDE ...]]]
    python benchmarks/distributed.py 50000 3 model=cnn augmentation=light

Prints both test accuracies (on the same 2000 test images), their difference in points and the
wall times. OVERRIDEs are digits-train overrides given to both runs (default: the mlp).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_distribute import result, start, two_workers  # noqa: E402

train_size = int(sys.argv[1]) if len(sys.argv) > 1 else 6000
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
extra = sys.argv[3:]
common = [f"data.train_size={train_size}", "data.val_size=1000", "data.test_size=2000",
          f"trainer.epochs={epochs}", "trainer.verbose=0", "trainer.early_stopping.enabled=false",
          *extra]
with tempfile.TemporaryDirectory() as scratch:
    started = time.perf_counter()
    single, _ = result(start(Path(scratch) / "single", common + ["trainer.batch_size=64"]), 7200)
    single_seconds = time.perf_counter() - started
    (chief, _), _ = two_workers(Path(scratch), common + ["trainer.batch_size=32"], 7200)
    workers_seconds = time.perf_counter() - started - single_seconds
print(f"train {train_size} images, {epochs} epochs, global batch 64, overrides {extra or 'none'}")
print(f"single process     test accuracy {single['test_accuracy']:.4f}  ({single_seconds:.0f} s)")
print(f"two workers (2x32) test accuracy {chief['test_accuracy']:.4f}  ({workers_seconds:.0f} s)")
print(f"difference {100 * (chief['test_accuracy'] - single['test_accuracy']):+.2f} points")
