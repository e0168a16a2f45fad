"""Photo -> MNIST-style 28x28, on real photo-like samples and on drawn images."""

import cv2
import numpy as np
import pytest

from digits.synth import hands
from digits.vision import mnist_style
from helpers import PHOTOS, drawn_digit, labelled_photos


def assert_mnist_like(box):
    assert box.shape == (28, 28) and box.dtype == np.uint8
    ys, xs = np.nonzero(box > 30)
    assert max(np.ptp(ys), np.ptp(xs)) <= 21  # fits MNIST's 20x20 box (plus a blurred edge)
    moments = cv2.moments(box)
    assert abs(moments["m10"] / moments["m00"] - 14) < 1.0
    assert abs(moments["m01"] / moments["m00"] - 14) < 1.0
    assert box[0].max() == 0 and box[-1].max() == 0 and box[:, 0].max() == 0


@pytest.mark.parametrize("path, label", [p for p in labelled_photos() if len(p[1]) == 1])
def test_sample_photos_become_centred_light_digits_on_black(path, label):
    box = mnist_style.to_mnist(cv2.imread(str(path)))
    assert_mnist_like(box)
    assert box.mean() < 80  # mostly black, as MNIST


def test_polarity_is_automatic():
    dark_on_light = mnist_style.to_mnist(drawn_digit(paper=230, ink=20))
    light_on_dark = mnist_style.to_mnist(drawn_digit(paper=40, ink=240))
    assert_mnist_like(dark_on_light)
    overlap = np.minimum(dark_on_light, light_on_dark).sum() / dark_on_light.sum()
    assert overlap > 0.8


def test_uneven_light_and_ruled_lines_are_ignored():
    image = drawn_digit().astype(np.float32)
    image *= np.linspace(0.55, 1.0, image.shape[1])[None, :, None]  # a shadow across the page
    for y in range(40, 480, 45):
        cv2.line(image, (0, y), (639, y), (150, 150, 150), 2)  # ruled paper
    clean = mnist_style.to_mnist(drawn_digit())
    shaded = mnist_style.to_mnist(image.astype(np.uint8))
    assert np.abs(clean.astype(int) - shaded.astype(int)).mean() < 12


def test_thin_strokes_are_thickened():
    thin = mnist_style.to_mnist(drawn_digit(thickness=2))
    thick = mnist_style.to_mnist(drawn_digit(thickness=18))
    assert np.count_nonzero(thin > 60) > 0.5 * np.count_nonzero(thick > 60)


@pytest.mark.parametrize("image", [np.full((480, 640, 3), 200, np.uint8),
                                   np.zeros((100, 100), np.uint8),
                                   (np.random.default_rng(0).normal(200, 3, (300, 300))
                                    .clip(0, 255).astype(np.uint8))])
def test_blank_pages_have_no_digit(image):
    with pytest.raises(mnist_style.NoDigitError):
        mnist_style.to_mnist(image)
    with pytest.raises(mnist_style.NoDigitError):
        mnist_style.to_line(image)


def test_tiny_images_are_refused_and_huge_ones_reduced():
    with pytest.raises(mnist_style.NoDigitError, match="too small"):
        mnist_style.to_mnist(np.zeros((5, 5), np.uint8))
    huge = cv2.resize(drawn_digit(), (6000, 4500))
    assert max(mnist_style.to_grey(huge).shape) == mnist_style.WORK_SIDE
    assert_mnist_like(mnist_style.to_mnist(huge))


def test_16_bit_transparent_and_grey_inputs():
    grey = cv2.cvtColor(drawn_digit(), cv2.COLOR_BGR2GRAY)
    reference = mnist_style.to_mnist(grey)
    sixteen = mnist_style.to_mnist(grey.astype(np.uint16) * 257)
    rgba = np.zeros((480, 640, 4), np.uint8)
    rgba[..., 3] = 255 - grey  # ink opaque, paper transparent
    transparent = mnist_style.to_mnist(rgba)
    for box in (sixteen, transparent):
        assert np.abs(box.astype(int) - reference.astype(int)).mean() < 8


@pytest.mark.parametrize("path, label", [p for p in labelled_photos() if len(p[1]) > 1])
def test_numbers_split_into_as_many_digits_left_to_right(path, label):
    boxes = mnist_style.number_to_mnist(cv2.imread(str(path)))
    assert len(boxes) == len(label)
    for box in boxes:
        assert_mnist_like(box)


def test_touching_digits_are_cut_and_broken_digits_merged():
    mask = np.zeros((200, 600), np.uint8)
    for centre in (110, 250):  # two 0s joined by a pen stroke: one blob
        cv2.ellipse(mask, (centre, 100), (50, 80), 0, 0, 360, 255, 18)
    cv2.line(mask, (150, 120), (210, 110), 255, 8)
    cv2.line(mask, (420, 20), (420, 180), 255, 20)  # and a 1 apart
    assert cv2.connectedComponents(mask)[0] - 1 == 2
    pieces = mnist_style.split_digits(mask)
    assert len(pieces) == 3
    lefts = [np.nonzero(piece.any(axis=0))[0][0] for piece in pieces]
    assert lefts == sorted(lefts) and 170 <= lefts[1] <= 190
    broken = np.zeros((200, 300), np.uint8)
    cv2.rectangle(broken, (60, 20), (140, 40), 255, -1)  # a bar over ...
    cv2.rectangle(broken, (60, 60), (140, 170), 255, -1)  # ... a body: one digit
    assert len(mnist_style.split_digits(broken)) == 1


def baseline_tilt(mask: np.ndarray) -> float:
    """Degrees: the slope of a line through the bottoms of the mask's digit-sized pieces."""
    _, _, stats, centres = cv2.connectedComponentsWithStats(mask, connectivity=8)
    tall = 1 + np.flatnonzero(stats[1:, 3] >= 0.5 * stats[1:, 3].max())
    bottoms = stats[tall, 1] + stats[tall, 3]
    return float(np.degrees(np.arctan(np.polyfit(centres[tall, 0], bottoms, 1)[0])))


def written_uphill(text: str, degrees: float) -> np.ndarray:
    photo = np.full((480, 640, 3), 235, np.uint8)
    cv2.putText(photo, text, (60, 300), cv2.FONT_HERSHEY_SIMPLEX, 4, (30, 30, 30), 12)
    turn = cv2.getRotationMatrix2D((320, 240), degrees, 1.0)
    return cv2.warpAffine(photo, turn, (640, 480), borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("degrees", [-12, 8])
def test_a_sloping_line_of_digits_is_levelled(degrees):
    mask = mnist_style.ink_mask(mnist_style.to_grey(written_uphill("4 7 3 5", degrees)))
    assert abs(baseline_tilt(mask) + degrees) < 2  # image rows grow downwards
    assert abs(baseline_tilt(mnist_style.level(mask))) < 1
    assert np.count_nonzero(mnist_style.level(mask)) == pytest.approx(np.count_nonzero(mask), rel=0.05)
    level_line = mnist_style.to_line(written_uphill("4 7 3 5", 0))
    assert mnist_style.to_line(written_uphill("4 7 3 5", degrees)).shape[1] == pytest.approx(
        level_line.shape[1], rel=0.1)  # not the shorter, wider line the slope's height makes


@pytest.mark.parametrize("text,degrees", [("4 7 3 5", 0), ("47", 12), ("9 1", -15)])
def test_level_lines_and_short_numbers_are_left_alone(text, degrees):
    """Under three digit-sized pieces there is no baseline to trust."""
    mask = mnist_style.ink_mask(mnist_style.to_grey(written_uphill(text, degrees)))
    np.testing.assert_array_equal(mnist_style.level(mask), mask)


def test_one_digit_in_pieces_is_not_turned_on_its_side():
    """Three pieces of one broken 5 give a steep 'baseline': no sloping line is that steep."""
    photo = np.full((480, 640, 3), 235, np.uint8)
    for (x0, y0), (x1, y1) in [((250, 100), (250, 200)), ((280, 110), (340, 220)),
                               ((330, 250), (300, 360))]:  # stem, flag, belly apart
        cv2.line(photo, (x0, y0), (x1, y1), (30, 30, 30), 16)
    mask = mnist_style.ink_mask(mnist_style.to_grey(photo))
    assert cv2.connectedComponents(mask)[0] == 4  # three pieces and the paper
    assert abs(baseline_tilt(mask)) > mnist_style.MAX_TILT
    np.testing.assert_array_equal(mnist_style.level(mask), mask)


def loops(mask: np.ndarray) -> int:
    """The holes in the ink (cv2.RETR_CCOMP: the second level is the holes)."""
    _, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return 0 if hierarchy is None else int(np.count_nonzero(hierarchy[0][:, 3] != -1))


def written(text: str, pen: int = 24) -> np.ndarray:
    mask = np.zeros((200, 130 * len(text) + 40), np.uint8)
    cv2.putText(mask, text, (20, 160), cv2.FONT_HERSHEY_SIMPLEX, 5, 255, pen, cv2.LINE_8)
    return np.where(mask >= 128, 255, 0).astype(np.uint8)  # ink_mask's masks are 0 or 255


@pytest.mark.parametrize("text", ["80", "469", "2046"])
def test_writing_drawn_in_outline_is_filled_solid_with_its_loops_open(text):
    solid = written(text)
    outlined = hands.hollow_out(solid, 24)  # walls a quarter of the pen wide, as hands draw them
    assert loops(outlined) > loops(solid)  # each stroke's inside is a hole of its own
    filled = mnist_style.fill_outlines(outlined)
    assert loops(filled) == loops(solid)  # the 8's, 0's, 4's, 6's and 9's loops, and no more
    assert np.count_nonzero(filled & ~solid) == 0
    assert np.count_nonzero(solid & ~filled) / np.count_nonzero(solid) < 0.02


@pytest.mark.parametrize("text", ["80", "469", "1237", "0"])
def test_writing_not_in_outline_is_left_alone(text):
    np.testing.assert_array_equal(mnist_style.fill_outlines(written(text)), written(text))
    np.testing.assert_array_equal(mnist_style.fill_outlines(written(text, pen=6)), written(text, pen=6))


def test_a_dot_inside_a_loop_is_not_taken_for_an_outline():
    zero = np.zeros((200, 160), np.uint8)
    cv2.ellipse(zero, (80, 100), (40, 70), 0, 0, 360, 255, 10)
    cv2.circle(zero, (80, 100), 6, 255, -1)  # a speck held by the 0
    np.testing.assert_array_equal(mnist_style.fill_outlines(zero), zero)
    cv2.line(zero, (80, 70), (80, 130), 255, 8)  # a bar half as tall as the 0: a wall
    assert np.count_nonzero(mnist_style.fill_outlines(zero)) > np.count_nonzero(zero)


def test_a_photo_of_an_outlined_number_reads_as_the_solid_one():
    def photo(mask):
        image = np.full((300, mask.shape[1] + 80, 3), 230, np.uint8)
        image[50:250, 40:-40][mask > 0] = (40, 40, 40)
        return image
    solid, outlined = (mnist_style.to_line(photo(m)) for m in (written("2046"),
                                                           hands.hollow_out(written("2046"), 24)))
    assert outlined.shape[1] == pytest.approx(solid.shape[1], abs=3)
    outlined = cv2.resize(outlined, solid.shape[::-1], interpolation=cv2.INTER_AREA)
    overlap = np.minimum(solid, outlined).sum() / np.maximum(solid, outlined).sum()
    assert overlap > 0.9


def test_a_short_thin_line_on_a_large_page_is_found():
    page = np.random.default_rng(0).normal(215, 3, (480, 640)).clip(0, 255).astype(np.uint8)
    cv2.putText(page, "2046", (260, 250), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 120, 2, cv2.LINE_AA)
    assert 0.001 < np.mean(page < 180) < 0.01  # the ink: under 1 % of the page, over 0.1 %
    with pytest.raises(mnist_style.NoDigitError):  # ink_mask version 3 takes the page for blank
        mnist_style.ink_mask(mnist_style.to_grey(page), version=3)
    line = mnist_style.to_line(page)
    cropped = mnist_style.to_line(page[190:280, 230:420])  # the same writing filling its photo
    assert line.shape[1] == pytest.approx(cropped.shape[1], abs=3)
    line = cv2.resize(line, cropped.shape[::-1], interpolation=cv2.INTER_AREA)
    assert np.minimum(line, cropped).sum() / np.maximum(line, cropped).sum() > 0.8
