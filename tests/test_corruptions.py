"""The robustness suite's corruptions: seeded, at fixed severity, right on raw digits and photos."""

import re
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from digits.synth import corruptions
from digits.synth import mnist_c
from digits.synth import photo_corruptions

ROOT = Path(__file__).resolve().parents[1]
PHOTO_UNIT = 6.0
RANDOM = ("shot_noise", "impulse_noise", "glass_blur", "motion_blur", "shear", "scale", "rotate",
          "translate", "stripe", "fog", "spatter", "dotted_line", "zigzag", "uneven_light")
DRAWN_IN_INK = ("spatter", "dotted_line", "zigzag")


def raw_digit() -> np.ndarray:
    """A light "0" on black, MNIST-sized: a ring 3 px wide in the middle of 28x28."""
    image = np.zeros((28, 28), np.uint8)
    cv2.ellipse(image, (14, 14), (4, 6), 0, 0, 360, 255, 3, cv2.LINE_AA)
    return image


def photo_digit() -> np.ndarray:
    """The same "0" at PHOTO_UNIT px per MNIST pixel, dark ink on light paper."""
    big = cv2.resize(raw_digit(), None, fx=PHOTO_UNIT, fy=PHOTO_UNIT,
                     interpolation=cv2.INTER_LINEAR) / np.float32(255)
    pen = np.clip((big - 0.25) / 0.4, 0, 1)  # a pen's sharp edge, as the suite draws it
    return (230 - pen * 200).astype(np.uint8)


@pytest.mark.parametrize("name", corruptions.CORRUPTIONS)
def test_every_corruption_is_seeded_and_changes_both_kinds_of_image(name):
    for image, unit, light in ((raw_digit(), 1.0, True), (photo_digit(), PHOTO_UNIT, False)):
        first = corruptions.corrupt(image, name, np.random.default_rng(5), unit, light)
        again = corruptions.corrupt(image, name, np.random.default_rng(5), unit, light)
        assert first.shape == image.shape and first.dtype == np.uint8
        np.testing.assert_array_equal(first, again)
        assert np.abs(first.astype(int) - image).mean() > 1, f"{name} left the image unchanged"
        if name in RANDOM:
            other = corruptions.corrupt(image, name, np.random.default_rng(6), unit, light)
            assert not np.array_equal(first, other), f"{name} ignores its random draws"


@pytest.mark.parametrize("name", DRAWN_IN_INK)
def test_marks_are_drawn_in_the_images_own_ink(name):
    raw = raw_digit().astype(int)
    marked = corruptions.corrupt(raw_digit(), name, np.random.default_rng(0)).astype(int)
    assert (marked >= raw - 1).all() and (marked > raw + 100).any()  # light marks on black
    photo = photo_digit().astype(int)
    marked = corruptions.corrupt(photo_digit(), name, np.random.default_rng(0), PHOTO_UNIT,
                                 ink_is_light=False).astype(int)
    assert (marked <= photo + 1).all() and (marked < photo - 100).any()  # dark marks on paper


def test_brightness_lifts_the_black_background_to_grey():
    brighter = corruptions.corrupt(raw_digit(), "brightness", np.random.default_rng(0))
    assert brighter[0, 0] == round(255 * mnist_c.BRIGHTNESS_ADD)
    assert brighter.max() == 255


def test_uneven_light_on_a_wide_line_at_a_small_scale_warns_of_no_overflow():
    # far from the shadow's edge the logistic's exponent once overflowed float32 (a warning
    # printed during training); the light stays between the shadow's depth and full
    line = np.ones((40, 900), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lit = photo_corruptions.uneven_light(line, np.random.default_rng(3), 0.5)
    shadow_and_falloff = ((1 - photo_corruptions.SHADOW_DEPTH)
                          * (1 - photo_corruptions.LIGHT_FALLOFF))
    assert lit.dtype == np.float32 and lit.max() <= 1
    assert lit.min() >= shadow_and_falloff - 1e-6


def test_translate_moves_the_digit_by_its_fixed_distance_at_any_scale():
    for image, unit, light in ((raw_digit(), 1.0, True), (photo_digit(), PHOTO_UNIT, False)):
        moved = corruptions.corrupt(image, "translate", np.random.default_rng(1), unit, light)
        ink = [im if light else np.clip(230 - im.astype(np.float32), 0, None)
               for im in (image, moved)]
        centres = [np.array(cv2.moments(im)["m10"]) / cv2.moments(im)["m00"] for im in ink]
        rows = [cv2.moments(im)["m01"] / cv2.moments(im)["m00"] for im in ink]
        shift = np.hypot(centres[1] - centres[0], rows[1] - rows[0]) / unit
        assert abs(shift - mnist_c.TRANSLATE_SHIFT) < 0.5


def test_stroke_corruptions_thin_thicken_and_hollow_the_strokes():
    raw = raw_digit()
    ink = {name: int(corruptions.corrupt(raw, name, np.random.default_rng(0)).sum())
           for name in ("thin_strokes", "thick_strokes", "outline")}
    assert ink["thin_strokes"] < 0.85 * raw.sum() and ink["outline"] < 0.8 * raw.sum()
    assert ink["thick_strokes"] > 1.3 * raw.sum()
    photo = photo_digit()
    hollow = corruptions.corrupt(photo, "outline", np.random.default_rng(0), PHOTO_UNIT, False)
    # The middle of the ring's stroke (its right side, x = 18 MNIST px) turns back to paper,
    # its edges stay ink.
    middle, row = int(18 * PHOTO_UNIT), int(14 * PHOTO_UNIT)
    assert photo[row, middle] < 80 and hollow[row, middle] > 180
    edge = int(np.argmax(photo[row] < 80))  # the stroke's left edge
    assert edge < middle and hollow[row, edge:edge + int(PHOTO_UNIT)].min() < 120


def test_low_resolution_erases_detail_finer_than_two_pixels():
    stripes = np.zeros((28, 28), np.uint8)
    stripes[:, ::2] = 255
    blurred = corruptions.corrupt(stripes, "low_resolution", np.random.default_rng(0))
    assert np.ptp(blurred[4:-4, 4:-4]) < 40


def test_held_out_families_are_never_offered_to_training():
    held = corruptions.HELD_OUT
    assert len(held) >= 5 and held <= set(corruptions.CORRUPTIONS)
    offered = corruptions.training_corruptions()
    assert held.isdisjoint(offered)
    assert set(offered) | held == set(corruptions.CORRUPTIONS)


def test_training_code_never_names_a_held_out_family():
    """Only the suite may name them: training data asks training_corruptions() instead."""
    allowed = {"corruptions.py", "mnist_c.py", "robustness.py"}
    sources = [p for p in (ROOT / "digits").rglob("*.py") if p.name not in allowed]
    sources += list((ROOT / "conf").rglob("*.yaml"))
    pattern = re.compile(r"\b(" + "|".join(sorted(corruptions.HELD_OUT)) + r")\b")
    named = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in sources
             for m in pattern.finditer(p.read_text())]
    assert not named, f"held-out corruptions named outside the suite: {named}"


def test_docs_give_every_corruption_and_its_severity():
    text = (ROOT / "docs" / "robustness.md").read_text()
    for corruption in corruptions.CORRUPTIONS.values():
        assert f"`{corruption.name}`" in text
        assert corruption.severity in text, f"docs lack the severity of {corruption.name}"
