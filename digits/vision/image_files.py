"""Image files -> decoded arrays, for every reader of photos (the CLI, training on folders, the
web server): one place decides which files are images, how large they may be and how they are
decoded.

Every file's header is read first (Pillow reads only the header), so an image whose pixels would
not fit the limit (a decompression bomb: a few kilobytes that decode to gigabytes) is refused
before anything is decoded, whatever its format.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import PIL.Image

from digits.vision import mnist_style

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
# A 48 MP phone photo fits; anything larger is refused before it is decoded.
DEFAULT_MAX_PIXELS = 50_000_000
REDUCED_JPEG = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                8: cv2.IMREAD_REDUCED_COLOR_8}
UNREADABLE = "not a readable image (corrupt, truncated or not an image format)"


class ImageTooLargeError(ValueError):
    """The image's header says it has more pixels than the limit allows."""


def header(data: bytes) -> tuple[str, tuple[int, int]]:
    """(format, (width, height)) from the image's header, without decoding its pixels."""
    try:
        with PIL.Image.open(io.BytesIO(data)) as image:
            return image.format or "", image.size
    except PIL.Image.DecompressionBombError:  # Pillow's own ceiling, far above ours
        raise ImageTooLargeError(
            f"image too large: over {2 * PIL.Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels, "
            "which Pillow refuses as a decompression bomb") from None
    except Exception:  # Pillow's plugins say "not an image" in many ways (NotImplementedError...)
        raise ValueError(UNREADABLE) from None


def check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} pixels ({width * height / 1e6:.1f} megapixels): more "
            f"than the limit of {max_pixels / 1e6:g} megapixels")


def decode_flags(image_format: str, size: tuple[int, int]) -> int:
    """How to decode: a large JPEG is decoded at 1/2, 1/4 or 1/8 of its size (libjpeg scales in
    the DCT: ~9x faster for a 48 MP photo) as long as it stays above mnist_style.WORK_SIDE."""
    if image_format != "JPEG":
        return cv2.IMREAD_UNCHANGED
    factor = max([f for f in REDUCED_JPEG if max(size) / f >= mnist_style.WORK_SIDE], default=1)
    return REDUCED_JPEG.get(factor, cv2.IMREAD_UNCHANGED)


def decode_bytes(data: bytes | np.ndarray, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Encoded image bytes -> the decoded image. ValueError with a plain reason if they are not a
    readable image; ImageTooLargeError (a ValueError) if the header says it is over max_pixels."""
    data = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    if not data:
        raise ValueError("empty file")
    image_format, size = header(data)
    check_pixels(size, max_pixels)
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), decode_flags(image_format, size))
    except cv2.error:
        image = None
    if image is None or image.size == 0:
        raise ValueError(UNREADABLE)
    return image


def decode(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file; raise ValueError with a reason a user understands."""
    if not path.exists():
        raise ValueError("file not found")
    if not path.is_file():
        raise ValueError("not a file")
    return decode_bytes(path.read_bytes(), max_pixels)
