"""OpenCV: the ink of the one digit in a photo's mask, without what lies beside or across it:
stray lines, dots, round blots, thin lines crossing it, and pieces away from the digit."""

from __future__ import annotations

import cv2
import numpy as np

from digits.vision.ink import stroke_width

# one_digit: lines at most THIN_LINE times as thick as the digit's strokes and FINE_LINE of the
# ink's extent, at least LONG_LINE stroke widths long, are not the digit's; nor are pieces beside
# it no longer than DOT_LENGTH stroke widths or BLOT_LENGTH times their own width (round blots).
THIN_LINE, FINE_LINE, LONG_LINE = 0.6, 0.06, 2.0
DOT_LENGTH, BLOT_LENGTH = 1.0, 1.6
ALONE_GAP = 0.5  # dots and blots lie over this many stroke widths from other ink
# digit_pieces: pieces within NEAR_DIGIT of the digit's size from it, or at least BIG_PIECE of the
# largest piece's area, are the digit; other pieces are blots, dust or a neighbour's stroke.
NEAR_DIGIT = 0.15
BIG_PIECE = 0.2


def one_digit(mask: np.ndarray) -> np.ndarray:
    """The ink of the one digit in a photo's mask: without stray lines, dots and blots, or thin
    lines across it, and only the pieces near it (digit_pieces)."""
    return digit_pieces(drop_stray_pieces(drop_thin_lines(drop_stray_pieces(mask))))


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


def drop_stray_pieces(mask: np.ndarray) -> np.ndarray:
    """Drop pieces apart from the largest that are no part of the digit: lines at most
    THIN_LINE times as thick as its strokes and LONG_LINE stroke widths long or more (a scribble,
    ruled or squared paper), and, over ALONE_GAP stroke widths from other ink, dots no longer
    than DOT_LENGTH stroke widths and blots no longer than BLOT_LENGTH times their own width
    (round: spilt, not a piece of a stroke, which runs along). Widths: twice the distance
    transform's 90th percentile (a piece's own width: its maximum)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 2:
        return mask
    distance = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    stroke = 2 * float(np.percentile(distance[labels == largest], 90))
    drop = np.zeros(count, bool)
    for index in range(1, count):
        if index == largest:
            continue
        left, top, width, height = stats[index, :4]
        box = (slice(top, top + height), slice(left, left + width))
        inside = distance[box][labels[box] == index]  # the piece's box, not the whole photo
        length = max(stats[index, cv2.CC_STAT_WIDTH], stats[index, cv2.CC_STAT_HEIGHT])
        thin_line = (2 * float(np.percentile(inside, 90)) <= THIN_LINE * stroke
                     and length >= LONG_LINE * stroke)
        dot = length <= DOT_LENGTH * stroke
        blot = length <= BLOT_LENGTH * 2 * float(inside.max())
        drop[index] = thin_line or ((dot or blot) and alone(labels, stats, index,
                                                            int(round(ALONE_GAP * stroke))))
    return np.where(drop[labels], 0, mask).astype(np.uint8)


def alone(labels: np.ndarray, stats: np.ndarray, index: int, gap: int) -> bool:
    """Whether piece `index` lies over `gap` px from every other piece: a blot or a dot, not a
    piece of a stroke that a ruled line or the light cut short."""
    left, top, width, height = stats[index, :4]
    rows = slice(max(top - gap, 0), top + height + gap)
    cols = slice(max(left - gap, 0), left + width + gap)
    window = labels[rows, cols]
    piece = (window == index).astype(np.uint8)
    around = cv2.dilate(piece, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * gap + 1,) * 2))
    return not np.any((around > 0) & (window > 0) & (window != index))


def drop_thin_lines(mask: np.ndarray) -> np.ndarray:
    """Cut away lines crossing or touching the digit that are much thinner than its strokes and
    run on: what an opening min(THIN_LINE stroke widths, FINE_LINE of the ink's extent) wide
    takes away, apart from the digit's own edges and ends near what it keeps, where a piece of
    it is LONG_LINE stroke widths long. A tapering stroke end rarely is."""
    stroke = stroke_width(mask)
    ys, xs = np.nonzero(mask)
    extent = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1
    size = int(round(min(THIN_LINE * stroke, FINE_LINE * extent)))
    if size < 3:
        return mask
    core = cv2.morphologyEx(mask, cv2.MORPH_OPEN,
                            cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    # what the opening leaves of a thin line: dots where it turns or crosses itself
    count, labels, stats, _ = cv2.connectedComponentsWithStats(core, connectivity=8)
    core[(stats[:, cv2.CC_STAT_AREA] < stroke ** 2)[labels] & (labels > 0)] = 0
    reach = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size + 2, size + 2))
    thin = cv2.subtract(mask, cv2.dilate(core, reach))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(thin, connectivity=8)
    long = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]) \
        >= LONG_LINE * stroke
    long[0] = False
    if not long.any():
        return mask
    kept = np.where(long[labels], 0, mask).astype(np.uint8)
    return kept if kept.any() else mask
