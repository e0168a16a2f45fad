"""Drawings as people make them on the page, read by the drawing path and by the photo path.

    python benchmarks/drawings.py [--model MODEL] [--per-style 3] [--numbers 200] [--sheet PATH]

Its own generator draws every digit on the page's pad (600x400, dark pen on white) in many
styles: mouse-straight strokes (key points joined by straight lines) or shaky ones (resampled,
with a smooth tremor), narrow, normal and wide digits, thin, the page's and thick pens, slants,
European 1 (flag, foot) and 7 (crossbar), open and closed 4, a 2 with a long flat base, a 9 with a
straight or curved tail; and numbers of 2-6 such digits side by side. Each drawing is read as a
drawing (digits.vision.drawing: no photo cleanup) and as a photo (what the page sent before it
said it was a drawing), with the same model, and the strokes the photo cleanup removed are
counted (a stroke is removed when less than half of its ink reaches the model's input).
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections import Counter

import cv2
import numpy as np

from digits.reading import digit_reader
from digits.models import crnn, model_files
from digits.reading import number_reader
from digits.vision import drawing, stray_ink
from digits.vision.ink import NoDigitError, ink_mask, to_grey

PAD = (400, 600)  # the page's drawing pad, rows x columns
PEN_WIDTHS = {"thin": 0.03, "page": 0.06, "thick": 0.09}  # of the pad's height (the page: 0.06)
WIDTHS = {"narrow": 0.45, "normal": 0.7, "wide": 1.0}  # the digit's width / its height
SLANTS = (-0.15, 0.0, 0.25)  # horizontal shift per unit of height, bottom to top
# A 1 is narrower than other digits however wide the hand: a stroke has no width of its own, a
# flag or foot reaches about half as far as a wide digit.
ONE_WIDTH = {"stroke": 0.35, "flag": 0.6, "european": 0.6}


def ellipse(cx, cy, rx, ry, start=0.0, end=360.0, steps=24):
    angles = np.radians(np.linspace(start, end, steps))
    return [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in angles]


# Each digit's styles: a style is a list of strokes, a stroke a list of (x, y) in the unit box
# (y downwards). Key points: a mouse draws straight lines between them.
DIGITS: dict[int, dict[str, list[list[tuple[float, float]]]]] = {
    0: {"oval": [ellipse(0.5, 0.5, 0.48, 0.5, -90, 270)]},
    1: {"stroke": [[(0.5, 0.0), (0.5, 1.0)]],
        "flag": [[(0.15, 0.3), (0.55, 0.0), (0.55, 1.0)]],
        "european": [[(0.1, 0.35), (0.6, 0.0), (0.6, 1.0)], [(0.25, 1.0), (0.95, 1.0)]]},
    2: {"curved": [[(0.05, 0.3), (0.25, 0.05), (0.55, 0.0), (0.85, 0.1), (0.9, 0.35),
                    (0.6, 0.6), (0.05, 1.0), (0.95, 0.95)]],
        "long base": [[(0.05, 0.25), (0.3, 0.02), (0.7, 0.02), (0.92, 0.25), (0.8, 0.5),
                       (0.0, 1.0), (1.0, 1.0)]]},
    3: {"round": [[(0.05, 0.12), (0.4, 0.0), (0.85, 0.08), (0.9, 0.28), (0.4, 0.47),
                   (0.9, 0.6), (0.95, 0.82), (0.6, 1.0), (0.05, 0.92)]],
        "flat top": [[(0.05, 0.0), (0.95, 0.0), (0.4, 0.42), (0.9, 0.58), (0.95, 0.82),
                      (0.6, 1.0), (0.05, 0.92)]]},
    4: {"open": [[(0.45, 0.0), (0.0, 0.65), (1.0, 0.65)], [(0.75, 0.2), (0.75, 1.0)]],
        "closed": [[(0.75, 0.0), (0.0, 0.65), (1.0, 0.65)], [(0.75, 0.0), (0.75, 1.0)]],
        "square": [[(0.1, 0.0), (0.05, 0.6), (1.0, 0.6)], [(0.75, 0.0), (0.75, 1.0)]]},
    5: {"hook": [[(0.9, 0.0), (0.15, 0.0), (0.1, 0.45), (0.5, 0.38), (0.9, 0.55), (0.95, 0.8),
                  (0.6, 1.0), (0.05, 0.92)]],
        "apart": [[(0.15, 0.0), (0.1, 0.45), (0.5, 0.38), (0.9, 0.55), (0.95, 0.8), (0.6, 1.0),
                   (0.05, 0.92)], [(0.15, 0.0), (0.95, 0.0)]]},
    6: {"loop": [[(0.8, 0.0), (0.4, 0.15), (0.1, 0.55), (0.15, 0.9), (0.5, 1.0), (0.85, 0.85),
                  (0.85, 0.6), (0.5, 0.5), (0.15, 0.65)]]},
    7: {"plain": [[(0.0, 0.0), (1.0, 0.0), (0.35, 1.0)]],
        "european": [[(0.0, 0.0), (1.0, 0.0), (0.35, 1.0)], [(0.3, 0.5), (0.9, 0.5)]]},
    8: {"loops": [ellipse(0.5, 0.25, 0.36, 0.25, 90, 450), ellipse(0.5, 0.73, 0.46, 0.27, -90, 270)]},
    9: {"straight tail": [ellipse(0.45, 0.28, 0.42, 0.28, 0, 360) + [(0.87, 0.28), (0.87, 1.0)]],
        "curved tail": [ellipse(0.45, 0.28, 0.42, 0.28, 0, 360) + [(0.87, 0.28), (0.8, 0.8),
                                                                   (0.5, 1.0), (0.2, 0.9)]]},
}


def shaky(points, rng: np.random.Generator, tremor: float) -> list[tuple[float, float]]:
    """Key points resampled every ~2 % of the box, with a smooth tremor of `tremor` (unit box)."""
    points = np.asarray(points, float)
    out = [points[0]]
    for a, b in zip(points[:-1], points[1:]):
        steps = max(1, int(np.linalg.norm(b - a) / 0.02))
        out += [a + (b - a) * t for t in np.linspace(0, 1, steps + 1)[1:]]
    out = np.asarray(out)
    noise = rng.normal(0, tremor, out.shape)
    kernel = np.ones(5) / 5
    noise = np.stack([np.convolve(noise[:, i], kernel, "same") for i in range(2)], 1)
    return [tuple(p) for p in out + noise]


def place(strokes, left: float, top: float, height: float, width_factor: float, slant: float):
    """Unit-box strokes -> pad pixels: the box `height` px tall at (left, top)."""
    width = height * width_factor
    return [[(left + (x + slant * (1 - y)) * width, top + y * height) for x, y in stroke]
            for stroke in strokes]


def render(strokes_px, pen: float, shape=PAD) -> np.ndarray:
    """Strokes in pad pixels -> uint8 BGR pad, dark pen on white, round caps as the page draws."""
    pad = np.full((*shape, 3), 255, np.uint8)
    for stroke in strokes_px:
        points = np.round(np.asarray(stroke) * 16).astype(np.int32)  # 4 fractional bits
        cv2.polylines(pad, [points], False, (17, 17, 17), max(1, int(round(pen))), cv2.LINE_AA,
                      shift=4)
    return pad


def digit_drawing(digit: int, style: str, stroke_kind: str, width: str, pen: str, slant: float,
                  rng: np.random.Generator):
    """(the pad, its strokes in pad pixels, the pen width in px) of one digit."""
    strokes = DIGITS[digit][style]
    if stroke_kind == "shaky":
        strokes = [shaky(stroke, rng, 0.008) for stroke in strokes]
    height = PAD[0] * rng.uniform(0.55, 0.8)
    width_factor = WIDTHS[width] * ONE_WIDTH.get(style, 1.0) if digit == 1 else WIDTHS[width]
    left = rng.uniform(20, max(21, PAD[1] - 20 - height * (width_factor + abs(slant))))
    top = rng.uniform(0.06 * PAD[0], PAD[0] - height - 0.06 * PAD[0])
    placed = place(strokes, left + max(0.0, -slant) * height, top, height, width_factor, slant)
    pen_px = PEN_WIDTHS[pen] * PAD[0]
    return render(placed, pen_px), placed, pen_px


def strokes_removed(pad: np.ndarray, placed, pen_px: float) -> int:
    """How many strokes the photo cleanup removes: under half of a stroke's ink survives into the
    mask the photo path reads the digit from."""
    grey = to_grey(pad)
    try:
        kept = stray_ink.one_digit(ink_mask(grey))
    except NoDigitError:
        return len(placed)
    removed = 0
    for stroke in placed:
        alone = cv2.cvtColor(render([stroke], pen_px), cv2.COLOR_BGR2GRAY)
        alone = cv2.resize(alone, grey.shape[::-1], interpolation=cv2.INTER_AREA) < 128
        if (kept[alone] > 0).mean() < 0.5:
            removed += 1
    return removed


def digit_cases(per_style: int, seed: int):
    rng = np.random.default_rng(seed)
    for digit, styles in DIGITS.items():
        for style, kind, width, pen, slant in itertools.product(
                styles, ("mouse", "shaky"), WIDTHS, PEN_WIDTHS, SLANTS):
            for _ in range(per_style):
                pad, placed, pen_px = digit_drawing(digit, style, kind, width, pen, slant, rng)
                yield digit, f"{digit} {style}, {kind}, {width}, {pen} pen", pad, placed, pen_px


def number_drawing(digits: list[int], rng: np.random.Generator) -> np.ndarray:
    """A number drawn on a pad wide enough for it: digits of one style side by side."""
    height = 120.0
    kind = "mouse" if rng.random() < 0.5 else "shaky"
    width = list(WIDTHS)[int(rng.integers(len(WIDTHS)))]
    slant = SLANTS[int(rng.integers(len(SLANTS)))]
    placed, left = [], 30.0
    for digit in digits:
        styles = list(DIGITS[digit])
        style = styles[int(rng.integers(len(styles)))]
        strokes = DIGITS[digit][style]
        if kind == "shaky":
            strokes = [shaky(stroke, rng, 0.008) for stroke in strokes]
        factor = WIDTHS[width] * (ONE_WIDTH[style] if digit == 1 else 1.0)
        placed += place(strokes, left + max(0.0, -slant) * height, 60, height, factor, slant)
        left += height * (factor + abs(slant)) + rng.uniform(0.15, 0.4) * height
    pen = PEN_WIDTHS[list(PEN_WIDTHS)[int(rng.integers(len(PEN_WIDTHS)))]] * 240
    return render(placed, pen, (240, int(left) + 30))


def read_digits_both_ways(model, cases):
    truths, styles, as_drawing, as_photo, removed = [], [], [], [], 0
    drawn, photographed = [], []
    for digit, style, pad, placed, pen_px in cases:
        truths.append(digit)
        styles.append(style)
        drawn.append(drawing.to_mnist(pad))
        photographed.append(pad)
        removed += strokes_removed(pad, placed, pen_px) > 0
    as_drawing = digit_reader.classify(model, drawn).argmax(1)
    as_photo = np.array([-1 if r.digit is None else r.digit
                         for r in digit_reader.read_digits(model, photographed)])
    return np.array(truths), styles, as_drawing, as_photo, removed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a digit model (default: the shipped digit reader)")
    parser.add_argument("--number-model", help="a number model (default: the shipped one)")
    parser.add_argument("--per-style", type=int, default=1,
                        help="drawings per digit style and combination of pen, width, slant")
    parser.add_argument("--numbers", type=int, default=100, help="numbers to draw (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    model = model_files.load(args.model or model_files.default_model_path("digit"))
    start = time.perf_counter()
    truths, styles, as_drawing, as_photo, removed = read_digits_both_ways(
        model, digit_cases(args.per_style, args.seed))
    print(f"{len(truths)} drawn digits ({time.perf_counter() - start:.0f} s)")
    for name, read in (("as a drawing", as_drawing), ("as a photo", as_photo)):
        right = read == truths
        misses = Counter(f"{styles[i]} -> {read[i]}" for i in np.flatnonzero(~right))
        print(f"{name}: {right.mean():.4f} ({(~right).sum()} misread)")
        for style, count in misses.most_common(8):
            print(f"    {count} x {style}")
    print(f"strokes removed: as a drawing 0 (nothing is cleaned); as a photo, drawings that lost "
          f"a stroke: {removed} of {len(truths)}")
    if args.numbers:
        number_model = model_files.load(args.number_model or model_files.default_model_path("number"))
        if not crnn.is_sequence_model(number_model):
            raise SystemExit("--number-model must be a whole-number (sequence) model")
        rng = np.random.default_rng([args.seed, 1])
        right_drawing = right_photo = 0
        for _ in range(args.numbers):
            digits = [int(d) for d in rng.integers(0, 10, int(rng.integers(2, 7)))]
            pad = number_drawing(digits, rng)
            truth = "".join(map(str, digits))
            line = drawing.to_line(pad)
            right_drawing += number_reader.read(number_model, [line])[0].number == truth
            right_photo += digit_reader.read_number(number_model, pad).number == truth
        print(f"{args.numbers} drawn numbers: as a drawing {right_drawing / args.numbers:.4f}, "
              f"as a photo {right_photo / args.numbers:.4f}")


if __name__ == "__main__":
    main()
