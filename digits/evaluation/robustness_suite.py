"""The robustness suite's shape, shared by the suite (robustness) and what it writes
(robustness_report): its size and seed, the photo's geometry, the two paths (raw and photo), the
corruptions, and the Suite of images the model is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digits.synth import corruptions

SUITE_SIZE = 2000
SUITE_SEED = 13  # draws the subset, the photos and every corruption
PHOTO_SIDE = 224  # the photo's side in pixels
PHOTO_FRAME = 160  # MNIST's 28x28 frame spans this much of it: a digit about 115 px tall
PHOTO_UNIT = PHOTO_FRAME / 28  # photo pixels per MNIST pixel
PATHS = ("raw", "photo")
NAMES = tuple(corruptions.CORRUPTIONS)
EXAMPLES = 6  # images per corruption in the example figures


@dataclass
class Suite:
    """What the model is shown: uint8 (n, 28, 28) per (path, corruption); "clean" included."""
    split: str
    labels: np.ndarray
    seen: dict[tuple[str, str], np.ndarray]
    readable: dict[tuple[str, str], np.ndarray]  # bool (n,): the reader found a digit
    photos: dict[str, list[np.ndarray]]  # the first EXAMPLES photos per corruption, for figures
