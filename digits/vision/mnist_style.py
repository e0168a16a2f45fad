"""OpenCV: a photo of handwriting -> MNIST-style 28x28 digits (light ink on black, centred).

The classic MNIST recipe made robust to photos: reduce, greyscale, turn back bands of inverted
grey levels, flatten uneven light, threshold with automatic polarity (paper or chalkboard), drop
specks, ruled lines, bands across the photo and frame edges, keep the digit's own pieces (not
blots, dots, lines thinner than its strokes or dust beside it), crop, fit 20x20 keeping the
aspect ratio, pad to 28x28, move the centre of mass to the centre. A number is
split into digits by connected components, left to right.
"""

from __future__ import annotations

import cv2
import numpy as np

from digits.vision import stray_ink
# vision.NoDigitError, .MIN_SIDE, .WORK_SIDE, .to_grey and .ink_mask are its callers' API
from digits.vision.ink import MIN_SIDE, WORK_SIDE, NoDigitError, ink_mask, to_grey  # noqa: F401

# Bump when what the reader makes of a photo changes: metrics.json records the version a model
# was trained with, and a test fails when the shipped model's differs from this.
PREPROCESSING_VERSION = 3  # 2: bands through the photo cleared, blots away from the digit dropped
# 3: inverted bands turned back, filled loops and blurred strokes kept whole (a wide paper
# estimate where the narrow one found ink), a 7's long bar no longer taken for a ruled line,
# thin lines, dots and round blots beside the digit dropped
# The same for to_line (whole numbers), which single-digit models never see: 1: the ink as to_mnist
# finds it; 2: a line written uphill or downhill levelled; 3: the ink of PREPROCESSING_VERSION 3
# (ink.ink_mask(grey, version=3): inverted bands, filled and blurred strokes, long bars); 4: writing
# drawn in outline filled solid (fill_outlines). to_line reads ink.ink_mask version 4, which no
# longer takes a photo whose writing covers under 1 % of it for blank paper; every photo version 3
# found ink in gives the same line, so LINE_VERSION stays 4 (a model trained on its lines sees
# what it learnt from) and only the numbers drawn for training changed (number_pool.POOL_VERSION).
LINE_VERSION = 4
DIGIT_BOX = 20  # MNIST: the digit fits a 20x20 box, centred by mass in 28x28
MNIST_SIZE = 28
MIN_STROKE = 0.12  # stroke width / digit height below which strokes are thickened (MNIST ~0.15)
# count_digits: a piece is digit-sized at this share of the tallest's height; pieces side by side
# are several digits when together at least this many times as wide as tall.
SEVERAL_HEIGHT = 0.5
SEVERAL_WIDTH = 1.0

# level: a line is levelled when at least LEVEL_PIECES digit-sized pieces (SEVERAL_HEIGHT) give its
# baseline, tilted by at least MIN_TILT degrees (less is left alone: rotating blurs the ink) and at
# most MAX_TILT (steeper "baselines" come from one digit broken into pieces, not a sloping line).
LEVEL_PIECES = 3
MIN_TILT, MAX_TILT = 1.0, 20.0

# fill_outlines: a piece of ink held inside a hole of the outer ink, at least this share of the
# line's height, is the inner wall of a stroke drawn in outline around a loop (a dot or a speck
# inside a 0 is smaller).
OUTLINE_WALL = 0.15


def thicken(mask: np.ndarray) -> np.ndarray:
    """Dilate thin strokes (a fine pen in a big photo) to MNIST's stroke-to-size ratio."""
    height = mask.shape[0]
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(contour, True) for contour in contours)
    stroke = 2 * np.count_nonzero(mask) / max(perimeter, 1)  # a long band: area = length * width
    missing = int(round(MIN_STROKE * height - stroke))
    if missing >= 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (missing + 1,) * 2)
        mask = cv2.dilate(mask, kernel)
    return mask


def crop_to_ink(mask: np.ndarray) -> np.ndarray:
    """The smallest box holding all of a non-empty mask's ink."""
    left, top, width, height = cv2.boundingRect(mask)
    return mask[top:top + height, left:left + width]


def to_mnist_box(mask: np.ndarray) -> np.ndarray:
    """A binary mask holding one digit -> uint8 (28, 28): fit 20x20, pad, centre of mass."""
    digit = crop_to_ink(mask)
    pad = max(digit.shape) // 10  # room for thickening without touching the crop's edge
    digit = crop_to_ink(thicken(cv2.copyMakeBorder(digit, pad, pad, pad, pad,
                                                   cv2.BORDER_CONSTANT, value=0)))
    scale = DIGIT_BOX / max(digit.shape)
    size = (max(1, round(digit.shape[1] * scale)), max(1, round(digit.shape[0] * scale)))
    small = cv2.resize(digit, size, interpolation=cv2.INTER_AREA)
    box = np.zeros((MNIST_SIZE, MNIST_SIZE), np.uint8)
    top, left = (MNIST_SIZE - size[1]) // 2, (MNIST_SIZE - size[0]) // 2
    box[top:top + size[1], left:left + size[0]] = small
    moments = cv2.moments(box)
    shift_x = MNIST_SIZE / 2 - moments["m10"] / moments["m00"]
    shift_y = MNIST_SIZE / 2 - moments["m01"] / moments["m00"]
    return cv2.warpAffine(box, np.float32([[1, 0, shift_x], [0, 1, shift_y]]),
                          (MNIST_SIZE, MNIST_SIZE), flags=cv2.INTER_LINEAR)

def to_mnist(image: np.ndarray) -> np.ndarray:
    """A decoded photo of one digit -> uint8 (28, 28), light digit on black. Raises NoDigitError."""
    return to_mnist_box(stray_ink.one_digit(ink_mask(to_grey(image))))


def column_groups(mask: np.ndarray) -> tuple[np.ndarray, list[list], list[int]]:
    """The mask's connected pieces grouped left to right, pieces whose columns overlap in one
    group (a 5 whose bar is apart): (component labels, [left, right, members] per group, the
    height of each group's ink)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    boxes = sorted((stats[i, 0], stats[i, 0] + stats[i, 2], [i]) for i in range(1, count))
    groups: list[list] = []
    for left, right, members in boxes:
        if groups:
            g_left, g_right, g_members = groups[-1]
            overlap = min(right, g_right) - max(left, g_left)
            if overlap > 0.5 * min(right - left, g_right - g_left):
                groups[-1] = [g_left, max(right, g_right), g_members + members]
                continue
        groups.append([left, right, members])
    top = stats[:, cv2.CC_STAT_TOP]
    bottom = top + stats[:, cv2.CC_STAT_HEIGHT]
    heights = [int(bottom[members].max() - top[members].min()) for _, _, members in groups]
    return labels, groups, heights


def count_digits(mask: np.ndarray) -> int:
    """How many digit-sized pieces stand apart side by side in a mask (1 for one digit): groups
    of pieces (column_groups) at least SEVERAL_HEIGHT as tall as the tallest, counted only when
    together they span at least SEVERAL_WIDTH times their height (the halves of one digit that
    the light broke apart span less). Touching digits are not counted apart: estimating them
    from a blob's width also counts wide single digits (a broad 2, a slanted 5)."""
    _, groups, heights = column_groups(mask)
    tall = [group for group, height in zip(groups, heights)
            if height >= SEVERAL_HEIGHT * max(heights)]
    if len(tall) < 2:
        return 1
    ys = np.nonzero(mask[:, tall[0][0]:tall[-1][1]])[0]
    span = tall[-1][1] - tall[0][0]
    return len(tall) if span >= SEVERAL_WIDTH * (ys.max() - ys.min() + 1) else 1


def to_mnist_counting(image: np.ndarray) -> tuple[np.ndarray, int]:
    """to_mnist's 28x28 (exactly), and count_digits of the same ink: more than 1 means the photo
    seems to hold a number (read it with --number). Raises NoDigitError."""
    mask = ink_mask(to_grey(image))
    return to_mnist_box(stray_ink.one_digit(mask)), count_digits(mask)


def split_digits(mask: np.ndarray) -> list[np.ndarray]:
    """A mask of a written number -> one mask per digit, left to right.

    Pieces whose columns overlap belong to one digit (a 5 whose bar is apart); a blob much wider
    than a digit is cut at the emptiest columns (digits that touch).
    """
    labels, groups, heights = column_groups(mask)
    digit_height = float(np.median(heights))
    pieces = []
    for (left, right, members), height in zip(groups, heights):
        if height < 0.35 * digit_height:  # a dot or a dash, not a digit
            continue
        piece = np.where(np.isin(labels, members), 255, 0).astype(np.uint8)
        pieces.extend(cut_touching(piece, left, right, digit_height))
    return pieces


def cut_touching(piece: np.ndarray, left: int, right: int, digit_height: float) -> list:
    """Cut a blob into as many digits as its width says, at the columns with the least ink."""
    digits = int(round((right - left) / (0.75 * digit_height)))
    if digits <= 1:
        return [piece]
    column_ink = np.count_nonzero(piece[:, left:right], axis=0).astype(float)
    cuts, step = [], (right - left) / digits
    for k in range(1, digits):
        centre = int(k * step)
        window = slice(max(0, centre - int(step / 3)), min(right - left, centre + int(step / 3)))
        cuts.append(left + window.start + int(np.argmin(column_ink[window])))
    edges = [left, *cuts, right]
    parts = []
    for start, stop in zip(edges, edges[1:]):
        part = np.zeros_like(piece)
        part[:, start:stop] = piece[:, start:stop]
        if part.any():
            parts.append(part)
    return parts


def number_to_mnist(image: np.ndarray) -> list[np.ndarray]:
    """A decoded photo of a number -> one uint8 (28, 28) per digit, left to right."""
    return [to_mnist_box(piece) for piece in split_digits(ink_mask(to_grey(image)))]


def level(mask: np.ndarray) -> np.ndarray:
    """A line of digits written uphill or downhill, rotated so that the bottoms of its digit-sized
    pieces lie level (a straight line fitted through them); unchanged when too few pieces tell the
    baseline or the tilt is slight. Cropping a sloping line keeps the slope's height: the digits
    then fill a fraction of the line height the reader was trained on."""
    # the pieces are labelled in the ink's box: labelling the whole photo costs a millisecond
    left, top, width, height = cv2.boundingRect(mask)
    if width == 0:
        return mask
    count, _, stats, centres = cv2.connectedComponentsWithStats(
        mask[top:top + height, left:left + width], connectivity=8)
    heights = stats[1:, cv2.CC_STAT_HEIGHT]
    if len(heights) < LEVEL_PIECES:
        return mask
    digits = 1 + np.flatnonzero(heights >= SEVERAL_HEIGHT * heights.max())
    if len(digits) < LEVEL_PIECES:
        return mask
    bottoms = top + stats[digits, cv2.CC_STAT_TOP] + stats[digits, cv2.CC_STAT_HEIGHT]
    tilt = np.degrees(np.arctan(np.polyfit(left + centres[digits, 0], bottoms, 1)[0]))
    if not MIN_TILT <= abs(tilt) <= MAX_TILT:
        return mask
    rows, cols = mask.shape
    pad = int(np.ceil(max(rows, cols) * abs(np.sin(np.radians(tilt))))) + 1  # room for the ends
    mask = cv2.copyMakeBorder(mask, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    turn = cv2.getRotationMatrix2D((cols / 2 + pad, rows / 2 + pad), float(tilt), 1.0)
    turned = cv2.warpAffine(mask, turn, mask.shape[::-1], flags=cv2.INTER_LINEAR)
    return np.where(turned >= 128, 255, 0).astype(np.uint8)


def fill_outlines(mask: np.ndarray) -> np.ndarray:
    """Writing drawn in outline (each stroke a pair of thin walls) made solid, as a pen writes:
    when a hole of the outer ink holds a piece of ink at least OUTLINE_WALL of the line's height
    (the inner wall of a stroke drawn around a loop), every hole of the outer ink is the inside
    of a stroke and is filled; the held pieces' own holes (the loops) stay open. Other writing
    comes back unchanged: its holes are loops, and no loop holds ink that tall."""
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return mask
    parents = hierarchy[0][:, 3]
    holes = {i for i, parent in enumerate(parents) if parent != -1 and parents[parent] == -1}
    held = [i for i, parent in enumerate(parents) if parent in holes]
    rows = np.flatnonzero(mask.any(axis=1))
    wall = OUTLINE_WALL * (rows[-1] - rows[0] + 1)
    if not any(cv2.boundingRect(contours[i])[3] >= wall for i in held):
        return mask
    inside = np.zeros_like(mask)
    cv2.drawContours(inside, [contours[i] for i in holes], -1, 255, cv2.FILLED)
    cv2.drawContours(inside, [contours[i] for i in held], -1, 0, cv2.FILLED)
    return cv2.bitwise_or(mask, inside)


def to_line(image: np.ndarray, height: int = 32) -> np.ndarray:
    """A decoded photo of a line of handwriting (a number) -> uint8 (height, W), light ink on
    black, for a sequence reader: the ink as ink_mask finds it, levelled (level), outlined
    writing filled solid (fill_outlines), then made a line (line_of_mask). Raises NoDigitError."""
    return line_of_mask(fill_outlines(level(ink_mask(to_grey(image), version=4))), height)


def line_of_mask(mask: np.ndarray, height: int = 32) -> np.ndarray:
    """A binary mask of a line's ink -> uint8 (height, W), light ink on black: cropped, strokes
    thickened as to_mnist does, scaled to fill the height but a small margin (the aspect ratio
    kept), with a quarter of the height of black at each end."""
    line = crop_to_ink(mask)
    pad = max(1, line.shape[0] // 10)  # room for thickening without touching the crop's edge
    line = crop_to_ink(thicken(cv2.copyMakeBorder(line, pad, pad, pad, pad, cv2.BORDER_CONSTANT,
                                                  value=0)))
    margin, end = max(1, height // 16), height // 4
    inner = height - 2 * margin
    width = max(1, round(line.shape[1] * inner / line.shape[0]))
    shrinking = line.shape[0] > inner
    small = cv2.resize(line, (width, inner),
                       interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    out = np.zeros((height, width + 2 * end), np.uint8)
    out[margin:margin + inner, end:end + width] = small
    return out
