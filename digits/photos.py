"""Image files -> decoded arrays, for every reader of photos (the CLI, training on folders, the
web server): one place decides which files are images and how they are decoded."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import PIL.Image

from digits import vision

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
REDUCED_JPEG = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                8: cv2.IMREAD_REDUCED_COLOR_8}


def decode_flags(data: np.ndarray) -> int:
    """How to decode: a large JPEG is decoded at 1/2, 1/4 or 1/8 of its size (libjpeg scales in
    the DCT: ~9x faster for a 48 MP photo) as long as it stays above vision.WORK_SIDE."""
    if data[:2].tobytes() != b"\xff\xd8":
        return cv2.IMREAD_UNCHANGED
    try:
        longer_side = max(PIL.Image.open(io.BytesIO(data.tobytes())).size)  # reads the header
    except (OSError, ValueError, PIL.Image.DecompressionBombError):
        return cv2.IMREAD_UNCHANGED
    factor = max([f for f in REDUCED_JPEG if longer_side / f >= vision.WORK_SIDE], default=1)
    return REDUCED_JPEG.get(factor, cv2.IMREAD_UNCHANGED)


def decode_bytes(data: np.ndarray) -> np.ndarray:
    """Encoded image bytes (uint8 array) -> the decoded image; ValueError with a plain reason."""
    if data.size == 0:
        raise ValueError("empty file")
    image = cv2.imdecode(data, decode_flags(data))
    if image is None:
        raise ValueError("not a readable image (corrupt, truncated or not an image format)")
    return image


def decode(path: Path) -> np.ndarray:
    """Read an image file; raise ValueError with a reason a user understands."""
    if not path.exists():
        raise ValueError("file not found")
    if not path.is_file():
        raise ValueError("not a file")
    return decode_bytes(np.fromfile(path, dtype=np.uint8))
