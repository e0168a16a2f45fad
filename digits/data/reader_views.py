"""data=handwriting: training images as the photo reader sees them.

A model that reads photos should learn from what `mnist_style.to_mnist` makes of photos, not only from
MNIST's own scans. From a split of MNIST this builds, besides the images themselves:
- reader views: each digit rendered as pen ink on paper (random stroke weight, slant, outlined
  strokes now and then), photographed (paper, light, ink colour, blur, noise, JPEG; sometimes a
  photo corruption), then read back through mnist_style.to_mnist exactly as digits-predict reads a photo;
- hand views: photos in the Hershey-stroke hands digits-handwriting draws (training hands only:
  never hands.UNSEEN_HANDS), read back the same way;
- corrupted views: the raw 28x28 under a training corruption (never corruptions.HELD_OUT), so that
  grey or noisy backgrounds are not ambiguous;
- scan views: each digit as a low-resolution binarised scan (forms, faxes, old datasets): stretched
  to fill a small box or kept in shape, thresholded at that size, enlarged again with a random
  interpolation, then read back the same way.
Rendering is slow next to training, so each set is built once and cached outside the repository
(DIGITS_CACHE, default ~/.cache/digits), keyed by its inputs and READER_DATA_VERSION.
"""

from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from digits.synth import corruptions
from digits.synth import hands
from digits.vision import mnist_style

log = logging.getLogger(__name__)

READER_DATA_VERSION = 2  # bump when the rendering below changes: old caches are then ignored
DIGIT_SIDE = (96, 320)  # px: the rendered digit's side, small and large handwriting in a photo
STROKE_LEVEL = (0.2, 0.65)  # where MNIST's grey edge becomes the pen's edge: heavy to light pens
OUTLINE_PROBABILITY = 0.05  # hollow strokes (drawn around, not filled)
SLANT = 0.35  # extra horizontal shear per unit height, either way
ROTATION = 12.0  # degrees, either way
PHOTO_CORRUPTION_PROBABILITY = 0.3
PHOTO_CORRUPTIONS = tuple(name for name in corruptions.training_corruptions()
                          if name in ("uneven_light", "low_resolution", "jpeg", "motion_blur",
                                      "shot_noise", "thin_strokes", "thick_strokes", "stripe"))
SCAN_SIDE = (12, 24)  # px: the scanned digit's box, before it is enlarged again
SCAN_STRETCH_PROBABILITY = 0.7  # the digit stretched to fill its box (else its shape is kept)
SCAN_THRESHOLD = (0.25, 0.6)  # the grey level (of 1) at which the scanner decides ink
SCAN_ENLARGE = (3.0, 8.0)  # how much the small scan is enlarged before it reaches the reader
SCAN_INTERPOLATIONS = (cv2.INTER_CUBIC, cv2.INTER_LINEAR, cv2.INTER_NEAREST)
# The rendered digit fills the canvas as a photographed digit fills its crop, so a raw
# MNIST-style corruption is measured in pixels of the 28x28 original.
MNIST_SIDE = 28


def pen_edge(grey: np.ndarray, unit: float, rng: np.random.Generator,
             min_slope: float = 0.0) -> np.ndarray:
    """MNIST's grey, enlarged to `unit` px per MNIST px, -> float32 coverage of a pen stroke: the
    grey level where the pen's edge lies is drawn at random (heavy to light pens), and the edge
    is anti-aliased over about one photo pixel (at least `min_slope` steep)."""
    soft = max(1.0, unit * MNIST_SIDE / 160)
    slope = max(unit / soft, min_slope)
    return np.clip((grey - rng.uniform(*STROKE_LEVEL)) * slope + 0.5, 0, 1)


def pen_ink(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 (28, 28) MNIST digit -> float32 ink coverage of a pen stroke on a larger square."""
    side = int(rng.integers(*DIGIT_SIDE))
    grey = cv2.resize(image.astype(np.float32) / 255, (side, side), interpolation=cv2.INTER_CUBIC)
    coverage = pen_edge(grey, side / MNIST_SIDE, rng)
    slant = rng.uniform(-SLANT, SLANT)
    matrix = cv2.getRotationMatrix2D((side / 2, side / 2), rng.uniform(-ROTATION, ROTATION), 1.0)
    matrix[0, 1] -= slant
    matrix[0, 2] += slant * side / 2
    coverage = cv2.warpAffine(coverage, matrix, (side, side), flags=cv2.INTER_LINEAR)
    if rng.random() < OUTLINE_PROBABILITY:
        pen = max(2, int(side / 14))
        coverage = hands.hollow_out((coverage * 255).astype(np.uint8), pen) / np.float32(255)
    return coverage.astype(np.float32)


def photo_of(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 (28, 28) MNIST digit -> a photo of it written on paper (uint8 BGR or grey)."""
    ink = hands.NEW_INKS[int(rng.integers(len(hands.NEW_INKS)))]
    photo = hands.shoot(hands.place(pen_ink(image, rng), rng), ink, rng)
    if rng.random() < PHOTO_CORRUPTION_PROBABILITY:
        name = PHOTO_CORRUPTIONS[int(rng.integers(len(PHOTO_CORRUPTIONS)))]
        grey = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
        unit = min(grey.shape) / MNIST_SIDE
        photo = corruptions.corrupt(grey, name, rng, unit=unit, ink_is_light=False)
    return photo


def read_back(photo: np.ndarray) -> np.ndarray | None:
    """What digits-predict's reader makes of a photo (None where it finds no digit)."""
    try:
        return mnist_style.to_mnist(photo)
    except mnist_style.NoDigitError:
        return None


def reader_view(image: np.ndarray, seed: int) -> np.ndarray | None:
    return read_back(photo_of(image, np.random.default_rng(seed)))


def hand_view(digit: int, hand: int, seed: int, index: int) -> np.ndarray | None:
    """Photo `index` of `digit` in training hand `hand`: its own stream of the base `seed`,
    apart from the single streams (seeds >= hands.FIRST_MEASURING_SEED) measuring photos use."""
    hands.check_training_draw(hand, seed)
    rng = np.random.default_rng([seed, hand, digit, index])
    return read_back(hands.photo(digit, hands.make_hand(hand), rng))


def corrupted_view(image: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    names = corruptions.training_corruptions()
    return corruptions.corrupt(image, names[int(rng.integers(len(names)))], rng)


def scan_of(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 (28, 28) MNIST digit -> a low-resolution binarised scan of it, enlarged again (uint8
    grey, dark ink on white, with a white margin)."""
    digit = mnist_style.crop_to_ink(image).astype(np.float32) / 255
    height, width = digit.shape
    side = int(rng.integers(*SCAN_SIDE))
    if rng.random() < SCAN_STRETCH_PROBABILITY:
        size = (side, side)
    else:
        scale = side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(digit, size, interpolation=cv2.INTER_AREA)
    scan = np.where(small > rng.uniform(*SCAN_THRESHOLD), 0, 255).astype(np.uint8)
    margin = max(1, int(round(side * rng.uniform(0.1, 0.5))))
    scan = cv2.copyMakeBorder(scan, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=255)
    factor = rng.uniform(*SCAN_ENLARGE)
    interpolation = SCAN_INTERPOLATIONS[int(rng.integers(len(SCAN_INTERPOLATIONS)))]
    return cv2.resize(scan, None, fx=factor, fy=factor, interpolation=interpolation)


def scan_view(image: np.ndarray, seed: int) -> np.ndarray | None:
    return read_back(scan_of(image, np.random.default_rng(seed)))


def _collect(function, *columns) -> tuple[np.ndarray, np.ndarray]:
    """Run function over the columns on every core (OpenCV releases the GIL); returns the
    images it made and the indices of the rows that gave one."""
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        made = list(pool.map(function, *columns, chunksize=64))
    kept = np.array([index for index, image in enumerate(made) if image is not None], int)
    images = np.stack([made[i] for i in kept]) if len(kept) else np.zeros((0, 28, 28), np.uint8)
    return images, kept


def reader_views(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One reader view of every image (those the reader finds no digit in are left out)."""
    seeds = np.random.default_rng([seed, 1]).integers(0, 2**63, len(x))
    images, kept = _collect(reader_view, list(x), seeds.tolist())
    return images, y[kept]


def hand_views(per_digit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`per_digit` photos of each digit in each training hand, read back."""
    rows = [(digit, hand, seed, index) for hand in hands.training_hands() for digit in range(10)
            for index in range(per_digit)]
    images, kept = _collect(hand_view, *zip(*rows))
    return images, np.array([row[0] for row in rows], np.uint8)[kept]


def views_of_some(view, x: np.ndarray, y: np.ndarray, fraction: float,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """view(image, seed) of a seeded `fraction` of the images (those it gives None for are left
    out), with their labels."""
    chosen = np.sort(rng.choice(len(x), int(round(fraction * len(x))), replace=False))
    seeds = rng.integers(0, 2**63, len(chosen))
    images, kept = _collect(view, list(x[chosen]), seeds.tolist())
    return images, y[chosen][kept]


def scan_views(x: np.ndarray, y: np.ndarray, fraction: float,
               seed: int) -> tuple[np.ndarray, np.ndarray]:
    return views_of_some(scan_view, x, y, fraction, np.random.default_rng([seed, 3]))


def corrupted_views(x: np.ndarray, y: np.ndarray, fraction: float,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    return views_of_some(corrupted_view, x, y, fraction, np.random.default_rng([seed, 2]))


def cache_dir() -> Path:
    return Path(os.environ.get("DIGITS_CACHE", Path.home() / ".cache" / "digits"))


def cached(name: str, key_parts: list, build) -> tuple[np.ndarray, np.ndarray]:
    """build() -> (images, labels), stored under a hash of key_parts; read back next time."""
    digest = hashlib.sha256()
    for part in [READER_DATA_VERSION, mnist_style.PREPROCESSING_VERSION, *key_parts]:
        digest.update(part.tobytes() if isinstance(part, np.ndarray) else repr(part).encode())
    path = cache_dir() / f"{name}-{digest.hexdigest()[:16]}.npz"
    if path.is_file():
        with np.load(path) as stored:
            return stored["x"], stored["y"]
    log.info("building %s (cached in %s for the next run)", name, path)
    images, labels = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    # one temporary file per process: two runs building the same cache at once (a sweep's
    # parallel jobs, the test suite's workers) never write into each other's; a name no later
    # run reuses, so a write that fails (disk full, Ctrl-C) removes its own
    temporary = path.with_name(f"{path.stem}.{os.getpid()}.partial.npz")
    try:
        np.savez(temporary, x=images, y=labels)
        os.replace(temporary, path)  # a run killed while writing never leaves half a cache
    finally:
        temporary.unlink(missing_ok=True)
    return images, labels


def extend(x: np.ndarray, y: np.ndarray, seed: int, reader_copies: int, hand_photos: int,
           corrupted_fraction: float, split: str,
           scan_fraction: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """x, y and, after them, their reader views, hand views, corrupted views and scan views."""
    parts = [(x, y)]
    for copy in range(reader_copies):
        parts.append(cached(f"{split}-reader", [x, y, seed, copy],
                            lambda copy=copy: reader_views(x, y, seed * 1000 + copy)))
    if hand_photos:
        parts.append(cached(f"{split}-hands", [hand_photos, seed, hands.training_hands()],
                            lambda: hand_views(hand_photos, seed)))
    if corrupted_fraction:
        parts.append(cached(f"{split}-corrupted", [x, y, seed, corrupted_fraction],
                            lambda: corrupted_views(x, y, corrupted_fraction, seed)))
    if scan_fraction:
        parts.append(cached(f"{split}-scans", [x, y, seed, scan_fraction],
                            lambda: scan_views(x, y, scan_fraction, seed)))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
