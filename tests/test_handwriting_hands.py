"""Hands 0-19 (digits.synth.hands): legacy looks kept, new hands vary more, hands 12-19 kept apart."""

import dataclasses
import hashlib

import numpy as np
import pytest

from digits.synth import hands
from digits.vision import mnist_style

# sha256 of photo(digit, make_hand(hand), default_rng(0)).tobytes(), computed with the code before
# hands 6-19 were added: hands 0-5 must keep their exact look.
LEGACY_PHOTOS = {
    (0, 7): "3516d1a6b34c046e603daa973e5bdfdbb22fbe4b4b3da9d0eba75bd4af5d55e8",
    (3, 7): "6ae753b34f1c0adac9e8759cfa6b87cd532062c30ef06528223d0fa14661aa78",
    (5, 7): "6d0e57921c9b7005a1835a01a31f2e47a4f32662e1de81d105e7bb7cb383c580",
}


@pytest.mark.parametrize("hand, digit", sorted(LEGACY_PHOTOS))
def test_legacy_hands_draw_byte_identical_photos(hand, digit):
    photo = hands.photo(digit, hands.make_hand(hand), np.random.default_rng(0))
    assert hashlib.sha256(photo.tobytes()).hexdigest() == LEGACY_PHOTOS[hand, digit]


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
