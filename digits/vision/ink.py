"""OpenCV: a photo -> a binary mask of its ink, whatever the paper's colour and lighting.

Reduce, greyscale, turn back bands of inverted grey levels, flatten uneven light, threshold with
automatic polarity (paper or chalkboard), drop specks, ruled lines, bands across the photo and
frame edges. mnist_style makes digits and lines of the mask.
"""

from __future__ import annotations

import cv2
import numpy as np

WORK_SIDE = 480  # photos are reduced to this longer side first: plenty for a row of digits
BACKGROUND_SIDE = 64  # the paper's shading is estimated at this size
# ink_mask: the paper is estimated by closings NARROW_CLOSE and WIDE_CLOSE px wide at
# BACKGROUND_SIDE; the wide one's ink counts within WIDE_REACH stroke widths of the narrow one's.
NARROW_CLOSE, WIDE_CLOSE, WIDE_REACH = 11, 21, 2.0
MIN_SIDE = 8  # smaller images cannot hold a readable digit
MIN_CONTRAST = 40  # grey levels between ink and paper below which we see a blank page
BAND_COVER = 0.85  # a column (row) inked over this share of it, edge to edge, is a band
EDGE_SHARE = 0.6  # an inverted band's sides are steps in at least this share of its length
BAND_GATE = 4  # restore_inverted_bands looks for bands first on a copy 4 times smaller
BAND_ROW_STEP = 4  # a band's paper level is the median of every 4th row (enough, and cheap)
RULED_ALONE = 0.5  # a ruled line has ink just above or below it along at most this share


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


def ink_mask(grey: np.ndarray, version: int = 3) -> np.ndarray:
    """uint8 grey -> binary mask (255 = ink), whatever the paper's colour and lighting.
    version 3: what to_mnist reads (mnist_style.PREPROCESSING_VERSION). version 4: version 3, and
    a photo whose darkest (or lightest) 1 % is paper is still searched for ink in its darkest
    0.1 % (what to_line reads; photos version 3 finds ink in are unchanged)."""
    grey = cv2.GaussianBlur(restore_inverted_bands(grey), (5, 5), 0)
    finest_low, low, median, high, finest_high = percentiles(grey, (0.001, 0.01, 0.5, 0.99, 0.999))
    if version >= 4 and max(median - low, high - median) < MIN_CONTRAST:
        # a short or thin line of writing (a number in outline, a fine pen) on a large page can
        # cover under 1 % of it; threshold_ink still refuses ink fainter than MIN_CONTRAST
        low, high = finest_low, finest_high
    if max(median - low, high - median) < MIN_CONTRAST:
        raise NoDigitError("no ink found: the image is blank or of one flat colour")
    if median - low < high - median:  # the minority (ink) is lighter: chalkboard, white on black
        grey = 255 - grey
    # A closing about as wide as a stroke follows shading closely but takes the middle of a
    # filled loop, a thick pen's stroke or a blurred one for paper (and hollows it); one a third
    # of the photo wide keeps them whole but takes patches of a cloudy shade for ink. Ink is
    # what the narrow one finds, and what the wide one finds near it.
    narrow = threshold_ink(grey, NARROW_CLOSE, 5)
    wide = threshold_ink(grey, WIDE_CLOSE, 3)
    reach = max(3, int(round(WIDE_REACH * stroke_width(narrow))))
    extra = cv2.bitwise_and(wide, cv2.bitwise_not(narrow))
    if extra.any():
        # within reach of the narrow ink: a distance transform on the extra ink's box and a
        # margin past which no narrow ink can be near (dilating by a reach-wide disc costs more)
        x, y, w, h = cv2.boundingRect(extra)
        rows = slice(max(y - reach, 0), y + h + reach)
        columns = slice(max(x - reach, 0), x + w + reach)
        near = cv2.distanceTransform(cv2.bitwise_not(narrow[rows, columns]), cv2.DIST_L2, 3)
        narrow[rows, columns][(near <= reach / 2) & (extra[rows, columns] > 0)] = 255
    return remove_clutter(narrow)


def threshold_ink(grey: np.ndarray, close: int, smooth: int) -> np.ndarray:
    """Dark ink on light paper (uint8 grey) -> binary mask by Otsu. The paper without the ink: a
    closing `close` px wide on a BACKGROUND_SIDE copy (cheap whatever the stroke width),
    smoothed over `smooth` px and scaled back; subtracting it flattens shadows and uneven light,
    leaving only the ink."""
    small = cv2.resize(grey, None, fx=BACKGROUND_SIDE / max(grey.shape),
                       fy=BACKGROUND_SIDE / max(grey.shape), interpolation=cv2.INTER_AREA)
    small = cv2.morphologyEx(small, cv2.MORPH_CLOSE,
                             cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close, close)))
    paper = cv2.resize(cv2.blur(small, (smooth, smooth)), grey.shape[::-1],
                       interpolation=cv2.INTER_LINEAR)
    ink = cv2.subtract(paper, grey)
    if int(ink.max()) < MIN_CONTRAST:
        raise NoDigitError("no ink found: nothing stands out from the paper")
    threshold, mask = cv2.threshold(ink, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    if threshold < MIN_CONTRAST / 2:  # Otsu split noise from noise
        _, mask = cv2.threshold(ink, MIN_CONTRAST / 2, 255, cv2.THRESH_BINARY)
    return mask


def stroke_width(mask: np.ndarray) -> float:
    """The width of the ink's strokes: twice the distance transform's 90th percentile (across a
    band of width w the distances spread evenly up to w / 2)."""
    if not mask.any():
        return 0.0
    # the same distances on fewer pixels: the ink's box and a row of paper around it
    x, y, w, h = cv2.boundingRect(mask)
    ink = mask[max(y - 1, 0):y + h + 1, max(x - 1, 0):x + w + 1]
    distance = cv2.distanceTransform(ink, cv2.DIST_L2, 5)
    return 2 * float(np.percentile(distance[ink > 0], 90))


def restore_inverted_bands(grey: np.ndarray) -> np.ndarray:
    """Turn back bands across the photo whose grey levels are inverted (light ink on dark paper
    in a photo of dark ink on light paper, or the reverse): columns (rows) whose paper, edge to
    edge, differs from the photo's by over MIN_CONTRAST, with sides that are sharp steps
    (EDGE_SHARE) and ink of the other polarity inside. Mapped back around the photo's paper
    level, the strokes inside read as the rest do."""
    # Most photos have none: a copy BAND_GATE times smaller, where no level stands out by even
    # half MIN_CONTRAST, says so at a tenth of the cost.
    small = cv2.resize(grey, None, fx=1 / BAND_GATE, fy=1 / BAND_GATE, interpolation=cv2.INTER_AREA)
    if not any(band_columns(levels, MIN_CONTRAST / 2)[0].any() for levels in (small, small.T)):
        return grey
    return restore_inverted_columns(restore_inverted_columns(grey).T).T


def band_columns(grey: np.ndarray, contrast: float, row_step: int = 1) -> tuple[np.ndarray, float]:
    """(columns whose paper differs from the photo's by over `contrast` over their whole length,
    at the top and at the bottom; the photo's paper level). Column levels are medians of every
    `row_step`th row."""
    end = max(1, grey.shape[0] // 8)
    column_paper = np.median(grey[::row_step], axis=0)
    paper = float(np.median(column_paper))
    levels = (column_paper, np.median(grey[:end], axis=0), np.median(grey[-end:], axis=0))
    return np.logical_and.reduce([np.abs(level - paper) > contrast for level in levels]), paper


def restore_inverted_columns(grey: np.ndarray) -> np.ndarray:
    width = grey.shape[1]
    band, paper = band_columns(grey, MIN_CONTRAST, BAND_ROW_STEP)  # every row: 2 ms a photo more
    if not band.any():
        return grey
    grey = grey.copy()
    edges = np.flatnonzero(np.diff(np.concatenate(([0], band.astype(np.int8), [0]))))
    for start, stop in zip(edges[::2], edges[1::2]):
        # half the photo darker is shade, not a band; soft sides are a cloud, a shadow, dots
        if stop - start > width // 2 or not sharp_sides(grey, start, stop):
            continue
        inside = grey[:, start:stop].astype(np.float32)
        band_paper = float(np.median(inside))
        low, high = np.percentile(inside, (1, 99))
        other_ink = high - band_paper if band_paper < paper else band_paper - low
        if other_ink > MIN_CONTRAST:
            grey[:, start:stop] = np.clip(paper + band_paper - inside, 0, 255).astype(np.uint8)
            bridge_seam(grey, start)
            bridge_seam(grey, stop)
    return grey


def sharp_sides(grey: np.ndarray, start: int, stop: int) -> bool:
    """Whether the band's sides inside the photo are straight steps: the grey level jumps by over
    MIN_CONTRAST across each in at least EDGE_SHARE of the rows."""
    for edge in (start, stop):
        if 2 <= edge <= grey.shape[1] - 2:
            jump = np.abs(grey[:, edge - 2].astype(np.int16) - grey[:, edge + 1])
            if np.mean(jump > MIN_CONTRAST) < EDGE_SHARE:
                return False
    return True


def bridge_seam(grey: np.ndarray, edge: int) -> None:
    """Blend the two columns either side of a restored band's side (the camera's blur of the
    step, else a thin line) from their neighbours."""
    if 2 <= edge <= grey.shape[1] - 2:
        left, right = grey[:, edge - 2].astype(np.float32), grey[:, edge + 1].astype(np.float32)
        grey[:, edge - 1] = ((2 * left + right) / 3).astype(np.uint8)
        grey[:, edge] = ((left + 2 * right) / 3).astype(np.uint8)


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


def ruled_only(lines: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The pieces of `lines` (horizontal runs of ink half the photo long) that are ruled lines,
    not the middle of a 7's or a 2's bar that a tight crop made long: ink lies just above or
    below a bar along most of its length, a ruled line along at most RULED_ALONE of it."""
    if not lines.any():
        return lines
    count, labels, stats, _ = cv2.connectedComponentsWithStats(lines, connectivity=8)
    ruled = np.zeros(count, bool)
    for index in range(1, count):
        left, top, width, height = stats[index, :4]
        above = mask[max(top - 2, 0), left:left + width] > 0
        below = mask[min(top + height + 1, mask.shape[0] - 1), left:left + width] > 0
        ruled[index] = np.mean(above | below) <= RULED_ALONE
    return np.where(ruled[labels], lines, 0).astype(np.uint8)


def remove_clutter(mask: np.ndarray) -> np.ndarray:
    """Drop bands across the photo, ruled lines, frame edges and specks; keep what could be
    digits."""
    mask = strip_bands(mask)
    height, width = mask.shape
    lines = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((1, width // 2), np.uint8))
    mask = cv2.subtract(mask, ruled_only(lines, mask))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        raise NoDigitError("no ink found after removing lines and specks")
    x, y, w, h, area = stats.T  # one entry per piece, [0] the background
    touches_edge = (x == 0) | (y == 0) | (x + w == width) | (y + h == height)
    frame_like = touches_edge & ((w > 0.8 * width) | (h > 0.8 * height))
    speck = (area < 0.04 * area[1:].max()) | (np.maximum(w, h) < 0.03 * max(width, height))
    keep = ~frame_like & ~speck
    keep[0] = False
    if not keep.any():
        raise NoDigitError("no ink found after removing lines and specks")
    return np.where(keep[labels], 255, 0).astype(np.uint8)
