"""MNIST-C's 15 corruption families (Mu & Gilmer 2019), written anew with OpenCV and numpy, each
at one fixed severity. The conventions every family follows (`unit`, "ink" families), the registry
and `corrupt` are in digits/synth/corruptions.py.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# The fixed severities, in MNIST pixels where a length (a digit is about 20 of them tall).
SHOT_PHOTONS = 8  # Poisson noise: light counted in this many photons at full white
IMPULSE_AMOUNT = 0.12  # fraction of pixels set to black or white
GLASS_SIGMA, GLASS_SHIFT, GLASS_ROUNDS = 0.6, 1.0, 2  # blur, local pixel shuffles, blur again
MOTION_LENGTH = 6.0  # length of the straight camera shake, any direction
SHEAR_RANGE = (0.4, 0.6)  # horizontal shear per unit height, either sign
SCALE_RANGE = (0.5, 0.6)  # the image shrunk about its centre
ROTATE_DEGREES = (35.0, 45.0)  # either way
BRIGHTNESS_ADD = 0.4  # added to every pixel, then clipped
TRANSLATE_SHIFT = 5.0  # in a random direction
STRIPE_WIDTH = 5.0  # a vertical band with its grey levels inverted
FOG_STRENGTH, FOG_DECAY = 1.0, 2.0  # fractal cloud added, then the image rescaled to [0, 1]
SPATTER_COVER = 0.06  # fraction of the image under ink blots
DOT_RADIUS, DOT_SPACING, DOTTED_LINES = 0.8, 2.5, 2  # lines of dots across the image
ZIGZAG_WIDTH, ZIGZAG_SEGMENTS, ZIGZAG_LENGTH, ZIGZAGS = 1.0, 5, 7.0, 2
CANNY_WIDTH = 1 / 3  # edge lines (at least one pixel wide) replace the strokes


def ink_and_ground(image: np.ndarray) -> tuple[float, float]:
    """(ink level, ground level) of an image with light ink: its 99th percentile and median."""
    ground, ink = np.percentile(image, (50, 99))
    return float(max(ink, ground + 0.3)), float(ground)


def disk(diameter: float) -> np.ndarray:
    size = max(1, int(round(diameter)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def warp(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    height, width = image.shape
    return cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def either_sign(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high) * rng.choice((-1, 1)))


def draw_in_ink(image: np.ndarray, marks: np.ndarray) -> np.ndarray:
    """Marks (float 0..1 coverage) drawn over the image in its ink."""
    ink, _ = ink_and_ground(image)
    return np.maximum(image, ink * marks)


def shot_noise(image, rng, unit):
    # Poisson's normal approximation (mean and variance x * photons): numpy's Poisson sampler
    # is several times slower on a photo, and the suite draws thousands.
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    return np.clip(image + noise * np.sqrt(image / SHOT_PHOTONS), 0, 1)


def impulse_noise(image, rng, unit):
    hit = rng.random(image.shape) < IMPULSE_AMOUNT
    return np.where(hit, rng.integers(0, 2, image.shape), image).astype(np.float32)


def glass_blur(image, rng, unit):
    image = cv2.GaussianBlur(image, (0, 0), GLASS_SIGMA * unit)
    height, width = image.shape
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    reach = max(1, int(round(GLASS_SHIFT * unit)))
    for _ in range(GLASS_ROUNDS):
        shift = rng.integers(-reach, reach + 1, (2, height, width)).astype(np.float32)
        image = cv2.remap(image, cols + shift[0], rows + shift[1], cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_REPLICATE)
    return cv2.GaussianBlur(image, (0, 0), GLASS_SIGMA * unit)


def motion_blur(image, rng, unit):
    length = max(3, int(round(MOTION_LENGTH * unit)) | 1)
    kernel = np.zeros((length, length), np.float32)
    angle, centre = rng.uniform(0, np.pi), length // 2
    dx, dy = centre * math.cos(angle), centre * math.sin(angle)
    cv2.line(kernel, (round(centre - dx), round(centre - dy)),
             (round(centre + dx), round(centre + dy)), 1.0, 1, cv2.LINE_AA)
    return cv2.filter2D(image, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REPLICATE)


def shear(image, rng, unit):
    amount = either_sign(rng, *SHEAR_RANGE)
    centre_y = image.shape[0] / 2
    return warp(image, np.float32([[1, amount, -amount * centre_y], [0, 1, 0]]))


def scale(image, rng, unit):
    height, width = image.shape
    factor = rng.uniform(*SCALE_RANGE)
    return warp(image, cv2.getRotationMatrix2D((width / 2, height / 2), 0, factor))


def rotate(image, rng, unit):
    height, width = image.shape
    angle = either_sign(rng, *ROTATE_DEGREES)
    return warp(image, cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0))


def brightness(image, rng, unit):
    return np.clip(image + BRIGHTNESS_ADD, 0, 1)


def translate(image, rng, unit):
    direction = rng.uniform(0, 2 * np.pi)
    shift = TRANSLATE_SHIFT * unit
    return warp(image, np.float32([[1, 0, shift * math.cos(direction)],
                                   [0, 1, shift * math.sin(direction)]]))


def stripe(image, rng, unit):
    width = image.shape[1]
    band = max(1, int(round(STRIPE_WIDTH * unit)))
    left = int(rng.integers(int(0.2 * width), max(int(0.8 * width) - band, int(0.2 * width)) + 1))
    image = image.copy()
    image[:, left:left + band] = 1 - image[:, left:left + band]
    return image


def fractal_cloud(shape: tuple[int, int], rng: np.random.Generator, decay: float) -> np.ndarray:
    """Plasma-like cloud in [0, 1]: octaves of smooth noise, 2 to 32 cells across the image."""
    height, width = shape
    cloud = np.zeros(shape, np.float32)
    for octave in range(5):
        cells = 2 ** (octave + 1)
        noise = rng.random((cells + 1, cells + 1)).astype(np.float32)
        cloud += cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC) / decay ** octave
    cloud -= cloud.min()
    return cloud / max(float(cloud.max()), 1e-6)


def fog(image, rng, unit):
    top = float(image.max())
    image = image + FOG_STRENGTH * fractal_cloud(image.shape, rng, FOG_DECAY)
    return np.clip(image * top / (top + FOG_STRENGTH), 0, 1)


def spatter(image, rng, unit):
    height, width = image.shape
    grid = (max(2, round(height / unit)), max(2, round(width / unit)))
    noise = cv2.GaussianBlur(rng.random(grid).astype(np.float32), (0, 0), 1.2)
    noise = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    threshold = np.quantile(noise, 1 - SPATTER_COVER)
    blots = np.clip((noise - threshold) / (0.15 * (noise.max() - threshold) + 1e-6), 0, 1)
    return draw_in_ink(image, blots)


def random_line(rng: np.random.Generator, height: int, width: int):
    """Two points on opposite sides of the image (top-bottom or left-right)."""
    if rng.random() < 0.5:
        return (rng.uniform(0, width), 0.0), (rng.uniform(0, width), float(height))
    return (0.0, rng.uniform(0, height)), (float(width), rng.uniform(0, height))


def dotted_line(image, rng, unit):
    height, width = image.shape
    marks = np.zeros_like(image)
    radius = max(1, int(round(DOT_RADIUS * unit)))
    for _ in range(DOTTED_LINES):
        (x0, y0), (x1, y1) = random_line(rng, height, width)
        dots = int(math.hypot(x1 - x0, y1 - y0) / (DOT_SPACING * unit)) + 1
        for t in np.linspace(0, 1, dots):
            centre = (int(round(x0 + t * (x1 - x0))), int(round(y0 + t * (y1 - y0))))
            cv2.circle(marks, centre, radius, 1.0, -1, cv2.LINE_AA)
    return draw_in_ink(image, marks)


def zigzag(image, rng, unit):
    height, width = image.shape
    marks = np.zeros_like(image)
    thickness = max(1, int(round(ZIGZAG_WIDTH * unit)))
    for _ in range(ZIGZAGS):
        point = np.array([rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height])
        heading, turn = rng.uniform(0, 2 * np.pi), rng.choice((-1, 1)) * rng.uniform(1.8, 2.4)
        points = [point]
        for segment in range(ZIGZAG_SEGMENTS):
            heading += turn * (-1) ** segment  # turn one way, then back: a zigzag
            step = ZIGZAG_LENGTH * unit * np.array([math.cos(heading), math.sin(heading)])
            points.append(points[-1] + step)
        cv2.polylines(marks, [np.round(points).astype(np.int32)], False, 1.0, thickness,
                      cv2.LINE_AA)
    return draw_in_ink(image, marks)


def canny_edges(image, rng, unit):
    ink, ground = ink_and_ground(image)
    smooth = cv2.GaussianBlur(image, (0, 0), max(0.3, 0.5 * unit))
    contrast = 255 * (ink - ground)
    edges = cv2.Canny(np.clip(smooth * 255, 0, 255).astype(np.uint8), 0.25 * contrast,
                      0.5 * contrast)
    width = max(1, int(round(CANNY_WIDTH * unit)))
    if width > 1:
        edges = cv2.dilate(edges, disk(width))
    return np.where(edges > 0, ink, ground).astype(np.float32)


# The registry's rows (corruptions.CORRUPTIONS): name, function, ink, severity.
FAMILIES = [
    ("shot_noise", shot_noise, False, f"Poisson-like, {SHOT_PHOTONS} photons at white"),
    ("impulse_noise", impulse_noise, False, f"{IMPULSE_AMOUNT:.0%} salt and pepper"),
    ("glass_blur", glass_blur, False, f"blur {GLASS_SIGMA}, shuffle ±{GLASS_SHIFT} "
                                      f"x{GLASS_ROUNDS}, blur"),
    ("motion_blur", motion_blur, False, f"{MOTION_LENGTH} px streak"),
    ("shear", shear, False, f"±{SHEAR_RANGE[0]}-{SHEAR_RANGE[1]}"),
    ("scale", scale, False, f"x{SCALE_RANGE[0]}-{SCALE_RANGE[1]}"),
    ("rotate", rotate, False, f"±{ROTATE_DEGREES[0]:.0f}-{ROTATE_DEGREES[1]:.0f}°"),
    ("brightness", brightness, False, f"+{BRIGHTNESS_ADD}"),
    ("translate", translate, False, f"{TRANSLATE_SHIFT} px"),
    ("stripe", stripe, False, f"{STRIPE_WIDTH} px band inverted"),
    ("fog", fog, False, f"cloud x{FOG_STRENGTH}, decay {FOG_DECAY}"),
    ("spatter", spatter, True, f"{SPATTER_COVER:.0%} under blots"),
    ("dotted_line", dotted_line, True, f"{DOTTED_LINES} lines of dots"),
    ("zigzag", zigzag, True, f"{ZIGZAGS} zigzags of {ZIGZAG_SEGMENTS}"),
    ("canny_edges", canny_edges, True, "edges only"),
]
