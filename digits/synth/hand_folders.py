"""Folders of photos of digits in one hand: what `digits-handwriting` writes, OUT_DIR/0 ..
OUT_DIR/9 (the layout data=folder reads), each photo named handH_seedS_K.jpg. The photos of one
folder are drawn from one generator seeded with `seed`, digit after digit."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from digits.synth import hands


def holds_photos(out_dir: Path, hand_index: int, seed: int) -> bool:
    """Whether OUT_DIR already holds photos of digits in this hand drawn with this seed."""
    return any(out_dir.glob(f"[0-9]/hand{hand_index}_seed{seed}_*"))


def write_folder(out_dir: Path, per_digit: int, hand_index: int, seed: int) -> int:
    """OUT_DIR/d/hand{H}_seed{S}_{k}.jpg for every digit d; returns how many photos were
    written."""
    hand, rng = hands.make_hand(hand_index), np.random.default_rng(seed)
    for digit in range(10):
        folder = out_dir / str(digit)
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(per_digit):
            path = folder / f"hand{hand_index}_seed{seed}_{k:03d}.jpg"
            if not cv2.imwrite(str(path), hands.photo(digit, hand, rng)):
                raise OSError(f"cannot write {path}")
    return 10 * per_digit
