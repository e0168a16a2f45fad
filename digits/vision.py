"""OpenCV: a photo of handwriting -> MNIST-style 28x28 digits (light ink on black, centred).

The classic MNIST recipe made robust to photos: reduce, greyscale, flatten uneven light, threshold
with automatic polarity (paper or chalkboard), drop specks, ruled lines, bands across the photo and
frame edges, keep the digit's own pieces (not blots or dust beside it), crop, fit 20x20 keeping
the aspect ratio, pad to 28x28, move the centre of mass to the centre. A number is
split into digits by connected components, left to right.
"""

from __future__ import annotations

import cv2
import numpy as np

# Bump when what the reader makes of a photo changes: metrics.json records the version a model
# was trained with, and a test fails when the shipped model's differs from this.
PREPROCESSING_VERSION = 2  # 2: bands through the photo cleared, blots away from the digit dropped
# The same for to_line (whole numbers), which single-digit models never see: 1: the ink as to_mnist
# finds it; 2: a line written uphill or downhill levelled.
LINE_VERSION = 2
WORK_SIDE = 480  # photos are reduced to this longer side first: plenty for a row of digits
BACKGROUND_SIDE = 64  # the paper's shading is estimated at this size
MIN_SIDE = 8  # smaller images cannot hold a readable digit
MIN_CONTRAST = 40  # grey levels between ink and paper below which we see a blank page
DIGIT_BOX = 20  # MNIST: the digit fits a 20x20 box, centred by mass in 28x28
MNIST_SIZE = 28
MIN_STROKE = 0.12  # stroke width / digit height below which strokes are thickened (MNIST ~0.15)
# count_digits: a piece is digit-sized at this share of the tallest's height; pieces side by side
# are several digits when together at least this many times as wide as tall.
SEVERAL_HEIGHT = 0.5
SEVERAL_WIDTH = 1.0
BAND_COVER = 0.85  # a column (row) inked over this share of it, edge to edge, is a band
# to_mnist: pieces within NEAR_DIGIT of the digit's size from it, or at least BIG_PIECE of the
# largest piece's area, are the digit; other pieces are blots, dust or a neighbour's stroke.
NEAR_DIGIT = 0.15
BIG_PIECE = 0.2
# level: a line is levelled when at least LEVEL_PIECES digit-sized pieces (SEVERAL_HEIGHT) give its
# baseline, tilted by at least MIN_TILT degrees (less is left alone: rotating blurs the ink) and at
# most MAX_TILT (steeper "baselines" come from one digit broken into pieces, not a sloping line).
LEVEL_PIECES = 3
MIN_TILT, MAX_TILT = 1.0, 20.0


class NoDigitError(ValueError):
    """The image holds no ink that could be a digit (a blank page, a flat colour)."""


def to_grey(image: np.ndarray) -> np.ndarray:
    """Any decoded image (grey, BGR, BGRA; uint8 or uint16) -> uint8 grey, reduced if large."""
    if image.ndim == 3 and image.shape[2] == 4:  # transparency: composite onto white paper
        alpha = image[..., 3:].astype(np.float32) / np.iinfo(image.dtype).max
        white = np.iinfo(image.dtype).max
        image = (image[..., :3] * alpha + white * (1 - alpha)).astype(image.dtype)
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if min(image.shape) < MIN_SIDE:
        raise NoDigitError(f"image is {image.shape[1]}x{image.shape[0]} px: too small to hold a "
                           f"digit (at least {MIN_SIDE}x{MIN_SIDE})")
    scale = WORK_SIDE / max(image.shape)
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return image


def percentiles(grey: np.ndarray, fractions) -> list[int]:
    """Grey levels below which these fractions of the pixels lie (a histogram: np.percentile
    sorts every pixel and costs more than the rest of the recipe)."""
    cumulative = np.cumsum(cv2.calcHist([grey], [0], None, [256], [0, 256]).ravel())
    return [int(np.searchsorted(cumulative, f * cumulative[-1])) for f in fractions]


def ink_mask(grey: np.ndarray) -> np.ndarray:
    """uint8 grey -> binary mask (255 = ink), whatever the paper's colour and lighting."""
    grey = cv2.GaussianBlur(grey, (5, 5), 0)
    low, median, high = percentiles(grey, (0.01, 0.5, 0.99))
    if max(median - low, high - median) < MIN_CONTRAST:
        raise NoDigitError("no ink found: the image is blank or of one flat colour")
    if median - low < high - median:  # the minority (ink) is lighter: chalkboard, white on black
        grey = 255 - grey
    # The paper without the ink: a closing wider than any stroke, done on a small copy (cheap
    # whatever the stroke width) and scaled back. Subtracting it flattens shadows and uneven
    # light, leaving only the ink.
    small = cv2.resize(grey, None, fx=BACKGROUND_SIDE / max(grey.shape),
                       fy=BACKGROUND_SIDE / max(grey.shape), interpolation=cv2.INTER_AREA)
    small = cv2.morphologyEx(small, cv2.MORPH_CLOSE,
                             cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (11, 11)))
    paper = cv2.resize(cv2.blur(small, (5, 5)), grey.shape[::-1], interpolation=cv2.INTER_LINEAR)
    ink = cv2.subtract(paper, grey)
    if int(ink.max()) < MIN_CONTRAST:
        raise NoDigitError("no ink found: nothing stands out from the paper")
    threshold, mask = cv2.threshold(ink, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    if threshold < MIN_CONTRAST / 2:  # Otsu split noise from noise
        _, mask = cv2.threshold(ink, MIN_CONTRAST / 2, 255, cv2.THRESH_BINARY)
    return remove_clutter(mask)


def strip_bands(mask: np.ndarray) -> np.ndarray:
    """Clear the columns (rows) inked over BAND_COVER of their length from edge to edge: a
    shadow, a ruler's edge or a dark bar across the photo, not writing. The digit's own strokes
    never span the photo (frame-like ink that reaches across it is dropped anyway)."""
    ink = mask > 0
    columns = (ink.mean(axis=0) >= BAND_COVER) & ink[0] & ink[-1]
    rows = (ink.mean(axis=1) >= BAND_COVER) & ink[:, 0] & ink[:, -1]
    if not (columns.any() or rows.any()):
        return mask
    mask = mask.copy()
    mask[:, columns] = 0
    mask[rows, :] = 0
    return mask


def remove_clutter(mask: np.ndarray) -> np.ndarray:
    """Drop bands across the photo, ruled lines, frame edges and specks; keep what could be
    digits."""
    mask = strip_bands(mask)
    height, width = mask.shape
    lines = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((1, width // 2), np.uint8))
    mask = cv2.subtract(mask, lines)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        raise NoDigitError("no ink found after removing lines and specks")
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(count, dtype=bool)
    for index in range(1, count):
        x, y, w, h, area = stats[index]
        touches_edge = x == 0 or y == 0 or x + w == width or y + h == height
        frame_like = touches_edge and (w > 0.8 * width or h > 0.8 * height)
        speck = area < 0.04 * areas.max() or max(w, h) < 0.03 * max(width, height)
        keep[index] = not frame_like and not speck
    if not keep.any():
        raise NoDigitError("no ink found after removing lines and specks")
    return np.where(keep[labels], 255, 0).astype(np.uint8)


def digit_pieces(mask: np.ndarray) -> np.ndarray:
    """The pieces of one digit in a mask: the largest piece, pieces near the digit (a 5's flag, a
    stroke the light broke off; grown piece by piece) and any other big piece. Ink blots, dust and
    specks away from the digit go: they would shrink the digit in to_mnist_box's 20x20 box."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 2:
        return mask
    areas = stats[:, cv2.CC_STAT_AREA]
    largest = 1 + int(np.argmax(areas[1:]))
    left, top, width, height = stats[largest, :4]
    box = [left, top, left + width, top + height]
    keep = {largest}
    grown = True
    while grown:
        grown = False
        margin = NEAR_DIGIT * max(box[2] - box[0], box[3] - box[1])
        for index in range(1, count):
            left, top, width, height = stats[index, :4]
            near = (left < box[2] + margin and left + width > box[0] - margin
                    and top < box[3] + margin and top + height > box[1] - margin)
            if index not in keep and (near or areas[index] >= BIG_PIECE * areas[largest]):
                keep.add(index)
                box = [min(box[0], left), min(box[1], top), max(box[2], left + width),
                       max(box[3], top + height)]
                grown = True
    return np.where(np.isin(labels, list(keep)), 255, 0).astype(np.uint8)


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


def to_mnist_box(mask: np.ndarray) -> np.ndarray:
    """A binary mask holding one digit -> uint8 (28, 28): fit 20x20, pad, centre of mass."""
    ys, xs = np.nonzero(mask)
    digit = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    pad = max(digit.shape) // 10  # room for thickening without touching the crop's edge
    digit = thicken(cv2.copyMakeBorder(digit, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0))
    ys, xs = np.nonzero(digit)
    digit = digit[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
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
    return to_mnist_box(digit_pieces(ink_mask(to_grey(image))))


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
    return to_mnist_box(digit_pieces(mask)), count_digits(mask)


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
    count, _, stats, centres = cv2.connectedComponentsWithStats(mask, connectivity=8)
    heights = stats[1:, cv2.CC_STAT_HEIGHT]
    if len(heights) < LEVEL_PIECES:
        return mask
    digits = 1 + np.flatnonzero(heights >= SEVERAL_HEIGHT * heights.max())
    if len(digits) < LEVEL_PIECES:
        return mask
    bottoms = stats[digits, cv2.CC_STAT_TOP] + stats[digits, cv2.CC_STAT_HEIGHT]
    tilt = np.degrees(np.arctan(np.polyfit(centres[digits, 0], bottoms, 1)[0]))
    if not MIN_TILT <= abs(tilt) <= MAX_TILT:
        return mask
    rows, cols = mask.shape
    pad = int(np.ceil(max(rows, cols) * abs(np.sin(np.radians(tilt))))) + 1  # room for the ends
    mask = cv2.copyMakeBorder(mask, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    turn = cv2.getRotationMatrix2D((cols / 2 + pad, rows / 2 + pad), float(tilt), 1.0)
    turned = cv2.warpAffine(mask, turn, mask.shape[::-1], flags=cv2.INTER_LINEAR)
    return np.where(turned >= 128, 255, 0).astype(np.uint8)


def to_line(image: np.ndarray, height: int = 32) -> np.ndarray:
    """A decoded photo of a line of handwriting (a number) -> uint8 (height, W), light ink on
    black, for a sequence reader: the ink as ink_mask finds it, cropped, strokes thickened as
    to_mnist does, scaled to fill the height but a small margin (the aspect ratio kept), with a
    quarter of the height of black at each end. Raises NoDigitError."""
    mask = level(ink_mask(to_grey(image)))
    ys, xs = np.nonzero(mask)
    line = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    pad = max(1, line.shape[0] // 10)  # room for thickening without touching the crop's edge
    line = thicken(cv2.copyMakeBorder(line, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0))
    ys, xs = np.nonzero(line)
    line = line[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    margin, end = max(1, height // 16), height // 4
    inner = height - 2 * margin
    width = max(1, round(line.shape[1] * inner / line.shape[0]))
    shrinking = line.shape[0] > inner
    small = cv2.resize(line, (width, inner),
                       interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    out = np.zeros((height, width + 2 * end), np.uint8)
    out[margin:margin + inner, end:end + width] = small
    return out
