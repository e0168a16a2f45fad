"""digits-handwriting --numbers: photos of whole numbers in one hand, the number in
each file name (digits.synth.hand_numbers)."""

from __future__ import annotations

import re
from collections import Counter

import cv2
import numpy as np
import pytest

from digits import handwriting
from digits.synth import hand_numbers
from digits.synth import hands
from digits.synth import number_layout
from digits.synth.number_layout import SPACINGS
from helpers import usage_error


def photos_of(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.jpg"))}


def test_writes_n_photos_each_named_by_the_number_drawn(tmp_path, capsys):
    out = tmp_path / "numbers"
    assert handwriting.main([str(out), "--numbers", "5", "--hand", "12", "--seed", "1000"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote 5 photos of numbers in hand 12 to {out}"
    paths = sorted(out.iterdir())
    assert len(paths) == 5
    for index, path in enumerate(paths):
        photo, number = hand_numbers.number_photo(12, 1000, index)
        assert path.name == f"hand12_seed1000_{index:04d}_{number.label}.jpg"
        assert hand_numbers.label_of(path) == number.label
        assert re.fullmatch(r"\d{1,8}", number.label)
        # the file is that photo (as cv2.imwrite encodes it)
        encoded = cv2.imdecode(cv2.imencode(".jpg", photo)[1], cv2.IMREAD_COLOR)
        np.testing.assert_array_equal(cv2.imread(str(path)), encoded)


def test_the_same_seed_gives_the_same_photos_and_fewer_photos_are_the_first_ones(tmp_path):
    for name, count, seed in (("a", "4", "3"), ("b", "4", "3"), ("c", "2", "3"), ("d", "4", "4")):
        assert handwriting.main([str(tmp_path / name), "--numbers", count, "--seed", seed]) == 0
    first, again, fewer, other = (photos_of(tmp_path / name) for name in "abcd")
    assert len(first) == 4 and first == again
    assert fewer == dict(list(first.items())[:2])
    assert not set(first.values()) & set(other.values())


def test_other_hands_draw_other_numbers_in_their_own_style():
    labels = {hand: [hand_numbers.number_photo(hand, 0, i)[1].label for i in range(4)]
              for hand in (0, 1)}
    assert labels[0] != labels[1]
    same = hand_numbers.draw_number("4710", hands.make_hand(0), np.random.default_rng(1))
    other = hand_numbers.draw_number("4710", hands.make_hand(1), np.random.default_rng(1))
    assert same.coverage.shape != other.coverage.shape or (same.coverage != other.coverage).any()


def test_numbers_have_every_length_and_spacing_and_pairs_are_classed_by_their_ink():
    lengths, spacings = Counter(), Counter()
    for index in range(40):
        rng = np.random.default_rng([7, index])
        label = hand_numbers.random_label(rng)
        number = hand_numbers.draw_number(label, hands.make_hand(index % hands.HANDS), rng)
        lengths[len(label)] += 1
        spacings.update(number.gaps)
        assert number.label == label and len(number.gaps) == len(label) - 1
        assert number.spacing == (min(number.gaps, key=SPACINGS.index) if number.gaps
                                  else "single")
    assert set(lengths) <= set(range(1, 9)) and len(lengths) >= 6
    assert set(spacings) == set(SPACINGS)


@pytest.mark.parametrize("wanted", SPACINGS)
def test_a_pair_placed_with_a_spacing_has_it_in_its_ink(wanted):
    rng = np.random.default_rng(3)
    hand = hands.make_hand(8)
    rows, found = hands.CANVAS, []
    for _ in range(6):
        masks = []
        for digit in (3, 8):
            ink = hands.draw_digit(digit, hand, rng) >= hand_numbers.INK
            cols = np.flatnonzero(ink.any(axis=0))
            masks.append(ink[:, cols.min():cols.max() + 1])
        a = np.zeros((rows, 4 * rows), bool)
        a[:, 100:100 + masks[0].shape[1]] = masks[0]
        column = number_layout.place_column(wanted, a, masks[1], rng,
                                             unit=hand_numbers.UNIT)
        b = np.zeros_like(a)
        b[:, column:column + masks[1].shape[1]] = masks[1]
        found.append(number_layout.pair_spacing(a, b, hand_numbers.UNIT))
        pieces = cv2.connectedComponents((a | b).astype(np.uint8), connectivity=8)[1]
        joined = bool(set(pieces[a].tolist()) & set(pieces[b].tolist()))
        a_right = np.flatnonzero(a.any(axis=0)).max()
        b_left = np.flatnonzero(b.any(axis=0)).min()
        if found[-1] == "touching":
            assert joined and a_right - b_left + 1 < 3 * hand_numbers.UNIT
        elif found[-1] == "overlapping":
            assert a_right - b_left + 1 >= 3 * hand_numbers.UNIT
        else:  # apart (slanted digits may share a few columns), wide further than tight
            assert not joined and a_right - b_left + 1 < 3 * hand_numbers.UNIT
            assert (b_left - a_right - 1 > 3 * hand_numbers.UNIT) == (found[-1] == "wide")
    assert Counter(found).most_common(1)[0][0] == wanted


@pytest.mark.parametrize("arguments, message", [
    (["--numbers", "0"], "--numbers must be >= 1, not 0"),
    (["--numbers", "3", "--hand", "-1"], f"--hand must be 0 .. {hands.HANDS - 1}, not -1"),
    (["--numbers", "3", "--hand", str(hands.HANDS)],
     f"--hand must be 0 .. {hands.HANDS - 1}, not {hands.HANDS}"),
    (["--numbers", "3", "--per-digit", "2"], "give --per-digit or --numbers, not both"),
    (["--numbers", "three"], "argument --numbers: invalid int value: 'three'"),
])
def test_bad_arguments_are_one_line_and_exit_2_and_write_nothing(tmp_path, capsys, arguments,
                                                                  message):
    error = usage_error(handwriting.main, [str(tmp_path / "out"), *arguments], capsys)
    assert error.startswith(f"digits-handwriting: {message}")
    assert not (tmp_path / "out").exists()


def test_numbers_already_there_are_kept_unless_overwrite(tmp_path, capsys):
    out = tmp_path / "numbers"
    assert handwriting.main([str(out), "--numbers", "1"]) == 0
    (mine,) = out.iterdir()
    mine.write_bytes(b"edited by hand")
    assert handwriting.main([str(out), "--numbers", "1"]) == 2
    assert capsys.readouterr().err.strip() == (f"digits-handwriting: {out} already holds numbers "
                                               "in hand 0 with seed 0; add --overwrite to "
                                               "replace them")
    assert mine.read_bytes() == b"edited by hand"
    assert handwriting.main([str(out), "--per-digit", "1"]) == 0  # digits: other names
    assert handwriting.main([str(out), "--numbers", "1", "--hand", "1"]) == 0
    assert handwriting.main([str(out), "--numbers", "1", "--overwrite"]) == 0
    assert mine.read_bytes()[:2] == b"\xff\xd8"  # a JPEG again
