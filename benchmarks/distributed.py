"""Two-worker MultiWorkerMirroredStrategy on loopback vs one process at the same global batch.

    python benchmarks/distributed.py [TRAIN_SIZE] [EPOCHS]

Prints both test accuracies (on the same test images) and their difference in points.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_distribute import result, start, two_workers  # noqa: E402

train_size, epochs = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else (6000, 5)
common = [f"data.train_size={train_size}", "data.val_size=1000", "data.test_size=2000",
          f"trainer.epochs={epochs}", "trainer.verbose=0", "trainer.early_stopping.enabled=false"]
with tempfile.TemporaryDirectory() as scratch:
    single, _ = result(start(Path(scratch) / "single", common + ["trainer.batch_size=64"]), 3600)
    (chief, _), _ = two_workers(Path(scratch), common + ["trainer.batch_size=32"])
print(f"train {train_size} images, {epochs} epochs, global batch 64, mlp")
print(f"single process     test accuracy {single['test_accuracy']:.4f}")
print(f"two workers (2x32) test accuracy {chief['test_accuracy']:.4f}")
print(f"difference {100 * (chief['test_accuracy'] - single['test_accuracy']):+.2f} points")
