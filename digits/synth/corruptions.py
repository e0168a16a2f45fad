"""Seeded image corruptions for the robustness suite, each at one fixed severity.

MNIST-C's 15 families (Mu & Gilmer 2019, digits/synth/mnist_c.py), written anew with OpenCV
and numpy, and six that photos of handwriting suffer (digits/synth/photo_corruptions.py); this module
holds their registry. Every corruption takes a float32 grey image in [0, 1] of any size, so one
function serves both the raw 28x28 input (light ink on black) and a photo (dark ink on paper):

- `unit` is the number of pixels per MNIST pixel (1 for the raw input): every length (blur,
  shift, stroke, line) is given in MNIST pixels and scaled by it, so a corruption means the same
  on a 28x28 digit and on a 224 px photo of it;
- "ink" corruptions (strokes, marks drawn in ink) see the image with light ink on a dark
  ground, whatever its polarity; "light" ones (lighting, noise, blur, geometry) see it as it is.

The severities (in those two modules) are fixed: change one and every result measured before is
void (say so in docs/robustness.md). HELD_OUT families are never used to train a model: they
measure how a model copes with damage it never saw. Training code asks `training_corruptions()` for
what it may use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from digits.synth import mnist_c
from digits.synth import photo_corruptions

# Never used in training or tuning a model's data; reported apart by the suite.
HELD_OUT = frozenset({"zigzag", "dotted_line", "glass_blur", "spatter", "fog"})


@dataclass(frozen=True)
class Corruption:
    name: str
    apply: Callable[[np.ndarray, np.random.Generator, float], np.ndarray]
    ink: bool  # sees the image with light ink (see the module docstring)
    severity: str  # what the fixed severity is, for tables and docs
    photo: bool  # one of the photo-specific families, not MNIST-C's


CORRUPTIONS = {name: Corruption(name, function, ink, severity, photo)
               for photo, families in ((False, mnist_c.FAMILIES),
                                       (True, photo_corruptions.FAMILIES))
               for name, function, ink, severity in families}


def training_corruptions() -> tuple[str, ...]:
    """The corruptions a model's training data may use: every family but HELD_OUT."""
    return tuple(name for name in CORRUPTIONS if name not in HELD_OUT)


def corrupt(image: np.ndarray, name: str, rng: np.random.Generator, unit: float = 1.0,
            ink_is_light: bool = True) -> np.ndarray:
    """uint8 grey image -> the same image under corruption `name` (uint8, same shape).

    `unit`: pixels per MNIST pixel; `ink_is_light`: True for MNIST-style input, False for photos
    of dark ink on paper.
    """
    corruption = CORRUPTIONS[name]
    values = image.astype(np.float32) / 255
    flip = corruption.ink and not ink_is_light
    if flip:
        values = 1 - values
    values = corruption.apply(values, rng, unit)
    if flip:
        values = 1 - values
    return np.clip(values * 255 + 0.5, 0, 255).astype(np.uint8)
