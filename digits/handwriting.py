"""Photo-like pictures of digits in one person's handwriting, for trying fine-tuning without a
camera: `digits-handwriting OUT_DIR [--per-digit 50] [--hand 0] [--seed 0]`.

A "hand" is a fixed style: one of OpenCV's built-in Hershey script faces (no font files needed),
a slant, a width, a pen and an ink. Every photo of that hand varies the way one person's writing
and photos do: the stroke wobbles (a smooth random warp), size, tilt, position, paper, light, blur
and JPEG noise change. Writes OUT_DIR/0 .. OUT_DIR/9, the layout data=folder reads.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# Serif italic (a "1" with flag and foot, a closed "4": a style MNIST rarely shows), then scripts.
FACES = (cv2.FONT_HERSHEY_COMPLEX | cv2.FONT_ITALIC, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
         cv2.FONT_HERSHEY_SCRIPT_COMPLEX)
INKS = ((40, 30, 25), (140, 60, 20), (30, 30, 150))  # BGR: black, blue, red ballpoint
CANVAS = 256  # the digit is drawn on a square canvas, then placed in a larger photo


@dataclass(frozen=True)
class Hand:
    face: int
    slant: float  # horizontal shear per unit height (positive leans right)
    width: float  # horizontal stretch
    pen: int  # stroke thickness in canvas pixels
    ink: tuple[int, int, int]


def make_hand(index: int) -> Hand:
    """Hand number `index`: the same style every time it is asked for."""
    rng = np.random.default_rng(10_000 + index)
    return Hand(face=FACES[index % len(FACES)], slant=float(rng.uniform(-0.4, 0.5)),
                width=float(rng.uniform(0.6, 1.5)), pen=int(rng.integers(5, 14)),
                ink=INKS[int(rng.integers(len(INKS)))])


def wobble(mask: np.ndarray, rng: np.random.Generator, strength: float = 6.0) -> np.ndarray:
    """Bend the strokes a little by a smooth random displacement field (no two alike)."""
    size = mask.shape[0]
    field = [cv2.GaussianBlur(rng.uniform(-1, 1, (size, size)).astype(np.float32), (0, 0), 24)
             for _ in range(2)]
    field = [f * (strength / max(np.abs(f).max(), 1e-6)) for f in field]
    grid_x, grid_y = np.meshgrid(np.arange(size, dtype=np.float32),
                                 np.arange(size, dtype=np.float32))
    return cv2.remap(mask, grid_x + field[0], grid_y + field[1], cv2.INTER_LINEAR)


def draw_digit(digit: int, hand: Hand, rng: np.random.Generator) -> np.ndarray:
    """The digit as ink coverage (float32 0..1) on a CANVAS x CANVAS square."""
    mask = np.zeros((CANVAS, CANVAS), np.uint8)
    scale = 7.0 * rng.uniform(0.9, 1.1)
    pen = max(2, hand.pen + int(rng.integers(-1, 2)))
    (width, height), _ = cv2.getTextSize(str(digit), hand.face, scale, pen)
    origin = ((CANVAS - width) // 2, (CANVAS + height) // 2)
    cv2.putText(mask, str(digit), origin, hand.face, scale, 255, pen, cv2.LINE_AA)
    angle = rng.uniform(-8, 8)
    slant = hand.slant + rng.uniform(-0.05, 0.05)
    affine = cv2.getRotationMatrix2D((CANVAS / 2, CANVAS / 2), angle, 1.0)
    shear = np.array([[hand.width, -slant, slant * CANVAS / 2 + (1 - hand.width) * CANVAS / 2],
                      [0, 1, 0], [0, 0, 1]])
    matrix = (np.vstack([affine, [0, 0, 1]]) @ shear)[:2]
    mask = cv2.warpAffine(mask, matrix, (CANVAS, CANVAS), flags=cv2.INTER_LINEAR)
    return wobble(mask, rng).astype(np.float32) / 255


def photograph(ink: np.ndarray, hand: Hand, rng: np.random.Generator) -> np.ndarray:
    """Ink coverage -> a BGR photo: tinted paper, uneven light, the ink, blur, noise."""
    height, width = int(rng.integers(300, 480)), int(rng.integers(360, 640))
    side = int(min(height, width) * rng.uniform(0.55, 0.85))
    coverage = np.zeros((height, width), np.float32)
    top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    coverage[top:top + side, left:left + side] = cv2.resize(ink, (side, side),
                                                            interpolation=cv2.INTER_AREA)
    paper = np.array([235, 240, 245], np.float32) - rng.uniform(0, 35, 3)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    direction = rng.uniform(0, 2 * np.pi)
    light = 1 - rng.uniform(0.05, 0.3) * (np.cos(direction) * cols / width
                                          + np.sin(direction) * rows / height + 1) / 2
    image = paper[None, None, :] * light[..., None]
    image = image * (1 - coverage[..., None]) + np.float32(hand.ink) * coverage[..., None]
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.5))
    image += rng.normal(0, rng.uniform(2, 6), image.shape).astype(np.float32)
    image = np.clip(image, 0, 255).astype(np.uint8)
    quality = int(rng.integers(60, 95))
    return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1],
                        cv2.IMREAD_COLOR)


def photo(digit: int, hand: Hand, rng: np.random.Generator) -> np.ndarray:
    return photograph(draw_digit(digit, hand, rng), hand, rng)


def write_folder(out_dir: Path, per_digit: int, hand_index: int, seed: int) -> int:
    """OUT_DIR/d/hand{H}_{k}.jpg for every digit d; returns how many photos were written."""
    hand, rng = make_hand(hand_index), np.random.default_rng(seed)
    for digit in range(10):
        folder = out_dir / str(digit)
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(per_digit):
            path = folder / f"hand{hand_index}_seed{seed}_{k:03d}.jpg"
            if not cv2.imwrite(str(path), photo(digit, hand, rng)):
                raise OSError(f"cannot write {path}")
    return 10 * per_digit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="digits-handwriting", description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder to write sub-folders 0 .. 9 into")
    parser.add_argument("--per-digit", type=int, default=50, help="photos of each digit (50)")
    parser.add_argument("--hand", type=int, default=0, help="which handwriting style (0)")
    parser.add_argument("--seed", type=int, default=0, help="draws the variations between photos")
    args = parser.parse_args(argv)
    if args.per_digit < 1 or args.hand < 0:
        parser.error("--per-digit must be >= 1 and --hand >= 0")
    try:
        count = write_folder(args.out_dir, args.per_digit, args.hand, args.seed)
    except OSError as error:
        print(f"digits-handwriting: {error}", file=sys.stderr)
        return 1
    print(f"wrote {count} photos in hand {args.hand} to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
