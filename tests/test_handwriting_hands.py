"""Hands 0-19 (digits.synth.hands): legacy looks kept, new hands vary more, hands 12-19 kept apart."""

import dataclasses
import sys

import cv2
import numpy as np
import pytest

from digits.synth import hands
from digits.vision import mnist_style
from helpers import DATA

# Hands 0-5 keep the look they had before hands 6-19 were added: tests/data/legacy_hands.npz holds,
# for each (hand, digit) below, photo(digit, make_hand(hand), default_rng(0)) in grey at an eighth
# of its size, its full shape and its ink area (pixels darker than INK_LEVEL). Written with
# `python tests/test_handwriting_hands.py` under OpenCV 5.0, whose photos were byte for byte the
# ones of the code before the new hands. Library updates may move a few pixels, not the look.
LEGACY_PHOTOS = DATA / "legacy_hands.npz"
LEGACY = [(0, 7), (3, 7), (5, 7)]
INK_LEVEL = 128  # the ink is near 50 and the paper above 180 in grey levels
SCALE = 8


def legacy_photo(hand: int, digit: int) -> np.ndarray:
    photo = hands.photo(digit, hands.make_hand(hand), np.random.default_rng(0))
    return cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)


def small(grey: np.ndarray) -> np.ndarray:
    height, width = grey.shape
    return cv2.resize(grey, (width // SCALE, height // SCALE), interpolation=cv2.INTER_AREA)


def write_legacy_photos() -> None:
    photos = {f"{hand}_{digit}": legacy_photo(hand, digit) for hand, digit in LEGACY}
    arrays = {}
    for key, grey in photos.items():
        arrays |= {f"small_{key}": small(grey), f"shape_{key}": np.array(grey.shape),
                   f"ink_{key}": np.array(np.count_nonzero(grey < INK_LEVEL))}
    np.savez_compressed(LEGACY_PHOTOS, **arrays)
    print(f"wrote {LEGACY_PHOTOS} ({len(photos)} photos, OpenCV {cv2.__version__})")


@pytest.mark.parametrize("hand, digit", LEGACY)
def test_legacy_hands_keep_their_look(hand, digit):
    grey, key = legacy_photo(hand, digit), f"{hand}_{digit}"
    with np.load(LEGACY_PHOTOS) as stored:
        shape, ink = tuple(stored[f"shape_{key}"]), int(stored[f"ink_{key}"])
        reference = stored[f"small_{key}"].astype(np.float32)
    assert grey.shape == shape
    assert abs(np.count_nonzero(grey < INK_LEVEL) - ink) < 0.1 * ink, "the strokes' width changed"
    difference = np.abs(small(grey) - reference).mean()
    assert difference < 3, f"hand {hand}'s {digit} lies {difference:.1f} grey levels from before"


def test_every_hand_is_its_own_fixed_style():
    styles = [hands.make_hand(index) for index in range(hands.HANDS)]
    assert styles == [hands.make_hand(index) for index in range(hands.HANDS)]
    assert len(set(styles)) == hands.HANDS


def test_new_hands_vary_more_than_the_legacy_ones():
    legacy = [hands.make_hand(i) for i in range(hands.LEGACY_HANDS)]
    new = [hands.make_hand(i) for i in range(hands.LEGACY_HANDS, hands.HANDS)]
    assert len({hand.face for hand in new}) > len({hand.face for hand in legacy})
    assert min(h.pen for h in new) < min(h.pen for h in legacy)
    assert max(h.pen for h in new) > max(h.pen for h in legacy)
    assert max(h.slant for h in new) > 0.5  # legacy slants lie in -0.4 .. 0.5
    assert any(h.flagged_one for h in new) and any(h.barred_seven for h in new)
    hollow = [i for i in range(hands.HANDS) if hands.make_hand(i).hollow]
    assert set(hollow) - set(hands.UNSEEN_HANDS), "no seen hand writes outlined digits"
    assert set(hollow) & set(hands.UNSEEN_HANDS), "no unseen hand writes outlined digits"


def test_unseen_hands_are_kept_out_of_training():
    seen = hands.training_hands()
    assert set(seen).isdisjoint(hands.UNSEEN_HANDS)
    assert sorted(set(seen) | set(hands.UNSEEN_HANDS)) == list(range(hands.HANDS))
    assert hands.UNSEEN_HANDS == tuple(range(12, 20))
    hands.check_training_draw(11, hands.FIRST_MEASURING_SEED - 1)
    with pytest.raises(ValueError, match="hand 12"):
        hands.check_training_draw(12, 0)
    with pytest.raises(ValueError, match="seed 1000"):
        hands.check_training_draw(0, 1000)


def test_new_hands_keep_the_digit_inside_the_canvas():
    for index in range(hands.LEGACY_HANDS, hands.HANDS):
        hand, rng = hands.make_hand(index), np.random.default_rng(index)
        for digit in range(10):
            ink = hands.draw_digit(digit, hand, rng)
            border = np.concatenate([ink[:4].ravel(), ink[-4:].ravel(),
                                     ink[:, :4].ravel(), ink[:, -4:].ravel()])
            assert border.max() < 0.05, f"hand {index} digit {digit} is cut by the canvas edge"


def test_hollow_hands_draw_outlines_of_the_same_digit():
    hand = hands.make_hand(10)
    assert hand.hollow
    hollow = hands.draw_digit(8, hand, np.random.default_rng(3))
    filled = hands.draw_digit(8, dataclasses.replace(hand, hollow=False),
                                    np.random.default_rng(3))
    assert hollow.sum() < 0.75 * filled.sum()
    rows = [np.flatnonzero((image > 0.5).any(axis=1)) for image in (hollow, filled)]
    assert abs(rows[0][0] - rows[1][0]) <= 2 and abs(rows[0][-1] - rows[1][-1]) <= 2


def test_every_hand_photographs_a_digit_the_reader_finds():
    for index in range(hands.HANDS):
        hand, rng = hands.make_hand(index), np.random.default_rng(1000 + index)
        for digit in (1, 4, 8):
            box = mnist_style.to_mnist(hands.photo(digit, hand, rng))
            assert box.shape == (28, 28) and box.max() > 200


if __name__ == "__main__":
    write_legacy_photos()
    sys.exit(0)
