"""Handwriting styles ("hands") and photo-like pictures of them: ink on paper, through a camera.

A hand is a fixed style: one of OpenCV's built-in Hershey faces (no font files needed), a slant,
a width, a pen and an ink; hands 6-19 also vary the wobble, 1s and 7s and outlined strokes. Every
photo of a hand varies the way one person's writing and photos do: the stroke wobbles (a smooth
random warp), size, tilt, position, paper, light, blur and JPEG noise change. The photo frame
(frame_size, line_scale, position, in_frame) and its paper and camera (shoot: on_paper, camera)
also serve every other photo digits draws: numbers in a hand, composed numbers written down,
MNIST digits photographed for training and for the robustness suite.

Hands 12-19 (UNSEEN_HANDS) are other people: never trained or tuned on, only measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Serif italic (a "1" with flag and foot, a closed "4": a style MNIST rarely shows), then scripts.
FACES = (cv2.FONT_HERSHEY_COMPLEX | cv2.FONT_ITALIC, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
         cv2.FONT_HERSHEY_SCRIPT_COMPLEX)
INKS = ((40, 30, 25), (140, 60, 20), (30, 30, 150))  # BGR: black, blue, red ballpoint
CANVAS = 256  # the digit is drawn on a square canvas, then placed in a larger photo

# Hands 0-5 look exactly as they did when there were only 3 faces (folders users made stay
# reproducible); from hand 6 on, a wider model: every Hershey face upright or italic, wider slant
# and width, thin to thick pens, pencil, stronger wobble, flagged and footed 1s, barred 7s and
# outlined (hollow) strokes.
LEGACY_HANDS = 6
NEW_FACES = tuple(face | italic for face in (
    cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    cv2.FONT_HERSHEY_SCRIPT_COMPLEX) for italic in (0, cv2.FONT_ITALIC))
NEW_INKS = INKS + ((95, 95, 100),)  # and pencil grey
HANDS = 20
# Hands 12-19 are other people: never used to train or tune a model, only to measure one.
UNSEEN_HANDS = tuple(range(12, HANDS))
# Photos that measure a model are drawn with --seed >= this; training data uses smaller seeds.
FIRST_MEASURING_SEED = 1000


@dataclass(frozen=True)
class Hand:
    face: int
    slant: float  # horizontal shear per unit height (positive leans right)
    width: float  # horizontal stretch
    pen: int  # stroke thickness in canvas pixels
    ink: tuple[int, int, int]
    scale: float = 7.0  # Hershey font scale (new hands: smaller when wide or slanted, to fit)
    wobble: float = 6.0  # how far the strokes bend, in canvas pixels
    flagged_one: bool = False  # a "1" with a flag at the top
    footed_one: bool = False  # and a foot
    barred_seven: bool = False  # a "7" crossed in the middle
    hollow: bool = False  # strokes drawn as outlines


def training_hands() -> tuple[int, ...]:
    """The hands training data and tuning may draw from (never UNSEEN_HANDS)."""
    return tuple(hand for hand in range(HANDS) if hand not in UNSEEN_HANDS)


def check_training_draw(hand: int, seed: int) -> None:
    """Raise ValueError if photos of `hand` drawn with `seed` must not be trained or tuned on."""
    if hand in UNSEEN_HANDS:
        raise ValueError(f"hand {hand} is kept for measuring (hands {UNSEEN_HANDS[0]}-"
                         f"{UNSEEN_HANDS[-1]} are never trained or tuned on)")
    if seed >= FIRST_MEASURING_SEED:
        raise ValueError(f"seed {seed} draws measuring photos (seeds >= {FIRST_MEASURING_SEED}); "
                         "training data uses smaller seeds")


def make_hand(index: int) -> Hand:
    """Hand number `index`: the same style every time it is asked for."""
    if index < LEGACY_HANDS:
        rng = np.random.default_rng(10_000 + index)
        return Hand(face=FACES[index % len(FACES)], slant=float(rng.uniform(-0.4, 0.5)),
                    width=float(rng.uniform(0.6, 1.5)), pen=int(rng.integers(5, 14)),
                    ink=INKS[int(rng.integers(len(INKS)))])
    rng = np.random.default_rng(20_000 + index)
    face = NEW_FACES[int(rng.integers(len(NEW_FACES)))]
    slant, width = float(rng.uniform(-0.5, 0.8)), float(rng.uniform(0.5, 1.6))
    hollow = index % 7 == 3  # hands 10 and 17: one seen, one unseen writer of outlined digits
    pen = int(rng.integers(16, 26)) if hollow else int(rng.integers(3, 22))
    # As tall as the legacy hands' digits whatever the face, but the sheared, stretched digit
    # stays inside the canvas.
    (glyph_width, glyph_height), _ = cv2.getTextSize("0", face, 1.0, 1)
    room = 0.85 * CANVAS - pen
    scale = min(189 / glyph_height, room / glyph_height,
                room / (glyph_width * width + glyph_height * abs(slant)))
    return Hand(face=face, slant=slant, width=width, pen=pen,
                ink=NEW_INKS[int(rng.integers(len(NEW_INKS)))], scale=scale,
                wobble=float(rng.uniform(3, 14)), flagged_one=bool(rng.random() < 0.4),
                footed_one=bool(rng.random() < 0.3), barred_seven=bool(rng.random() < 0.3),
                hollow=hollow)


def wobble(mask: np.ndarray, rng: np.random.Generator, strength: float = 6.0) -> np.ndarray:
    """Bend the strokes a little by a smooth random displacement field (no two alike)."""
    size = mask.shape[0]
    field = [cv2.GaussianBlur(rng.uniform(-1, 1, (size, size)).astype(np.float32), (0, 0), 24)
             for _ in range(2)]
    field = [f * (strength / max(np.abs(f).max(), 1e-6)) for f in field]
    grid_x, grid_y = np.meshgrid(np.arange(size, dtype=np.float32),
                                 np.arange(size, dtype=np.float32))
    return cv2.remap(mask, grid_x + field[0], grid_y + field[1], cv2.INTER_LINEAR)


def add_strokes(mask: np.ndarray, digit: int, hand: Hand, pen: int) -> None:
    """The hand's extra strokes, drawn into `mask`: a flag and a foot on 1, a bar through 7."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0 or digit not in (1, 7):
        return
    top, bottom, height = ys.min(), ys.max(), ys.max() - ys.min()
    if digit == 1:
        stem = int(np.median(xs))  # the stem is where most of a 1's ink is
        if hand.flagged_one:
            cv2.line(mask, (stem, top), (stem - int(0.3 * height), top + int(0.25 * height)),
                     255, pen, cv2.LINE_AA)
        if hand.footed_one:
            cv2.line(mask, (stem - int(0.25 * height), bottom), (stem + int(0.25 * height),
                                                                 bottom), 255, pen, cv2.LINE_AA)
    elif hand.barred_seven:
        middle = int(top + 0.55 * height)
        row = np.nonzero(mask[middle])[0]
        centre = int(row.mean()) if len(row) else int(np.median(xs))
        cv2.line(mask, (centre - int(0.22 * height), middle), (centre + int(0.22 * height),
                                                                middle), 255, pen, cv2.LINE_AA)


def hollow_out(mask: np.ndarray, pen: int) -> np.ndarray:
    """Keep only the outline of every stroke (a wall of about a quarter of the pen)."""
    wall = max(2, pen // 4)
    inside = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * wall + 1,) * 2))
    return cv2.subtract(mask, inside)


def draw_digit(digit: int, hand: Hand, rng: np.random.Generator) -> np.ndarray:
    """The digit as ink coverage (float32 0..1) on a CANVAS x CANVAS square."""
    mask = np.zeros((CANVAS, CANVAS), np.uint8)
    scale = hand.scale * rng.uniform(0.9, 1.1)
    pen = max(2, hand.pen + int(rng.integers(-1, 2)))
    (width, height), _ = cv2.getTextSize(str(digit), hand.face, scale, pen)
    origin = ((CANVAS - width) // 2, (CANVAS + height) // 2)
    cv2.putText(mask, str(digit), origin, hand.face, scale, 255, pen, cv2.LINE_AA)
    add_strokes(mask, digit, hand, pen)
    if hand.hollow:
        mask = hollow_out(mask, pen)
    angle = rng.uniform(-8, 8)
    slant = hand.slant + rng.uniform(-0.05, 0.05)
    affine = cv2.getRotationMatrix2D((CANVAS / 2, CANVAS / 2), angle, 1.0)
    shear = np.array([[hand.width, -slant, slant * CANVAS / 2 + (1 - hand.width) * CANVAS / 2],
                      [0, 1, 0], [0, 0, 1]])
    matrix = (np.vstack([affine, [0, 0, 1]]) @ shear)[:2]
    mask = cv2.warpAffine(mask, matrix, (CANVAS, CANVAS), flags=cv2.INTER_LINEAR)
    return wobble(mask, rng, hand.wobble).astype(np.float32) / 255


def frame_size(rng: np.random.Generator) -> tuple[int, int]:
    """A phone photo's (height, width) in px, as small as the reader sees it."""
    return int(rng.integers(300, 480)), int(rng.integers(360, 640))


def line_scale(rows: float, cols: float, frame: tuple[int, int],
               rng: np.random.Generator) -> float:
    """Frame px per px of a line of writing rows x cols: the line fills 55 % to all of the room
    the frame leaves it (90 % of its width, 85 % of its height)."""
    height, width = frame
    fit = min(0.9 * width / cols, 0.85 * height / rows)
    return fit * rng.uniform(0.55, 1.0)


def position(shape: tuple[int, ...], frame: tuple[int, int],
             rng: np.random.Generator) -> tuple[int, int]:
    """(top, left) of ink coverage of `shape` anywhere inside the frame."""
    top = int(rng.integers(0, frame[0] - shape[0] + 1))
    left = int(rng.integers(0, frame[1] - shape[1] + 1))
    return top, left


def in_frame(coverage: np.ndarray, frame: tuple[int, int], top: int, left: int) -> np.ndarray:
    """The frame's ink coverage, `coverage` placed with its top left at (top, left); rows above
    or below the frame are cut off."""
    out = np.zeros(frame, np.float32)
    shown = coverage[max(0, -top):frame[0] - top]
    out[max(0, top):max(0, top) + len(shown), left:left + coverage.shape[1]] = shown
    return out


def place(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A square of ink coverage -> a whole photo frame's coverage, the digit somewhere in it."""
    frame = frame_size(rng)
    side = int(min(frame) * rng.uniform(0.55, 0.85))
    square = cv2.resize(ink, (side, side), interpolation=cv2.INTER_AREA)
    return in_frame(square, frame, *position(square.shape, frame, rng))


def on_paper(coverage: np.ndarray, ink: tuple[int, int, int],
             rng: np.random.Generator) -> np.ndarray:
    """Ink coverage (float32 0..1) -> float32 BGR: the ink on tinted paper under uneven light."""
    height, width = coverage.shape
    paper = np.array([235, 240, 245], np.float32) - rng.uniform(0, 35, 3)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    direction = rng.uniform(0, 2 * np.pi)
    light = 1 - rng.uniform(0.05, 0.3) * (np.cos(direction) * cols / width
                                          + np.sin(direction) * rows / height + 1) / 2
    image = paper[None, None, :] * light[..., None]
    return image * (1 - coverage[..., None]) + np.float32(ink) * coverage[..., None]


def camera(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """float32 BGR scene -> the uint8 BGR photo a phone saves: blur, sensor noise, JPEG."""
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.5))
    image += rng.normal(0, rng.uniform(2, 6), image.shape).astype(np.float32)
    image = np.clip(image, 0, 255).astype(np.uint8)
    quality = int(rng.integers(60, 95))
    return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1],
                        cv2.IMREAD_COLOR)


def shoot(coverage: np.ndarray, ink: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """A frame's ink coverage -> the uint8 BGR photo: the ink on paper (on_paper), through the
    camera (camera)."""
    return camera(on_paper(coverage, ink, rng), rng)


def photograph(ink: np.ndarray, hand: Hand, rng: np.random.Generator) -> np.ndarray:
    """Ink coverage -> a BGR photo: tinted paper, uneven light, the ink, blur, noise."""
    return shoot(place(ink, rng), hand.ink, rng)


def photo(digit: int, hand: Hand, rng: np.random.Generator) -> np.ndarray:
    return photograph(draw_digit(digit, hand, rng), hand, rng)
