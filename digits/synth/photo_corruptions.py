"""Six corruptions that photos of handwriting suffer (uneven light, hollow, thin or thick
strokes, low resolution, JPEG), each at one fixed severity. The conventions every family follows
(`unit`, "ink" families), the registry and `corrupt` are in digits/synth/corruptions.py.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from digits.synth.mnist_c import disk

# The fixed severities, in MNIST pixels where a length (a digit is about 20 of them tall).
LIGHT_FALLOFF, SHADOW_DEPTH, SHADOW_EDGE = 0.5, 0.4, 1.5  # a light gradient and a hard shadow
OUTLINE_WALL = 0.6  # strokes hollowed, leaving walls this thick
LOW_RESOLUTION_UNIT = 0.5  # pixels per MNIST pixel: a digit 10 px tall, enlarged back
THIN_BY = 1.2  # strokes eroded by this much (MNIST strokes are 2-3 wide)
THICK_BY = 2.0  # strokes dilated by this much
JPEG_QUALITY = 8
FINE_UNIT = 4  # stroke morphology is done at >= 4 px per MNIST pixel (upsampled if needed)


def at_fine_scale(image: np.ndarray, unit: float, operation) -> np.ndarray:
    """Run operation(image, unit) where a MNIST pixel spans at least FINE_UNIT pixels."""
    factor = max(1, math.ceil(FINE_UNIT / unit))
    if factor == 1:
        return operation(image, unit)
    height, width = image.shape
    big = cv2.resize(image, (width * factor, height * factor), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(operation(big, unit * factor), (width, height), interpolation=cv2.INTER_AREA)


def uneven_light(image, rng, unit):
    height, width = image.shape
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    direction = rng.uniform(0, 2 * np.pi)
    ramp = (math.cos(direction) * cols / width + math.sin(direction) * rows / height + 1) / 2
    # A hard shadow (a hand, a phone) over the half-plane past a line near the centre.
    angle, offset = rng.uniform(0, 2 * np.pi), rng.uniform(-0.15, 0.15) * max(height, width)
    side = (math.cos(angle) * (cols - width / 2) + math.sin(angle) * (rows - height / 2) - offset)
    # The logistic's exponent clipped at 50, far inside float32's range (exp overflows past
    # ~88): beyond it the shadow's share is under float precision and shadow is 1.0 either way.
    exponent = np.minimum(-side / (SHADOW_EDGE * unit), 50)
    shadow = 1 - SHADOW_DEPTH * (1 / (1 + np.exp(exponent)))
    return image * (1 - LIGHT_FALLOFF * ramp) * shadow


def outline(image, rng, unit):
    def hollow(fine, fine_unit):
        inside = cv2.erode(fine, disk(2 * OUTLINE_WALL * fine_unit))
        ground = cv2.erode(fine, np.ones((int(6 * fine_unit),) * 2, np.uint8))
        return np.clip(fine - inside + ground, 0, 1)
    return at_fine_scale(image, unit, hollow)


def low_resolution(image, rng, unit):
    height, width = image.shape
    factor = LOW_RESOLUTION_UNIT / unit
    small = cv2.resize(image, (max(2, round(width * factor)), max(2, round(height * factor))),
                       interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def thin_strokes(image, rng, unit):
    return at_fine_scale(image, unit, lambda fine, u: cv2.erode(fine, disk(THIN_BY * u)))


def thick_strokes(image, rng, unit):
    return at_fine_scale(image, unit, lambda fine, u: cv2.dilate(fine, disk(THICK_BY * u)))


def jpeg(image, rng, unit):
    grey = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
    encoded = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1]
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255


# The registry's rows (corruptions.CORRUPTIONS): name, function, ink, severity.
FAMILIES = [
    ("uneven_light", uneven_light, False, f"falloff {LIGHT_FALLOFF}, shadow {SHADOW_DEPTH}"),
    ("outline", outline, True, f"walls {OUTLINE_WALL} px"),
    ("low_resolution", low_resolution, False, f"{LOW_RESOLUTION_UNIT} px per px"),
    ("thin_strokes", thin_strokes, True, f"-{THIN_BY} px"),
    ("thick_strokes", thick_strokes, True, f"+{THICK_BY} px"),
    ("jpeg", jpeg, False, f"quality {JPEG_QUALITY}"),
]
