"""data=numbers: synthetic handwritten numbers from MNIST digits of one split."""

from __future__ import annotations

import hashlib
from collections import Counter

import cv2
import numpy as np
import pytest

from digits.data import datasets
from digits.data.numbers import written
from digits.data.numbers import fixed_sets
from digits.data.numbers import composed
from digits.synth import number_layout
from digits.vision import mnist_style
from digits.config.schemas import DataConfig


@pytest.fixture(scope="module")
def splits():
    return datasets.load(DataConfig(train_size=3000, val_size=1000, test_size=None), seed=0)


def some_numbers(x, y, count, seed=0):
    return [composed.compose(x, y, np.random.default_rng([seed, i])) for i in range(count)]


def sharing_a_component(mask_a, mask_b) -> bool:
    """Whether some 8-connected piece of the two digits' ink holds ink of both."""
    _, labels = cv2.connectedComponents((mask_a | mask_b).astype(np.uint8), connectivity=8)
    return bool(set(labels[mask_a].tolist()) & set(labels[mask_b].tolist()))


def test_labels_are_the_digits_composed_and_the_line_is_their_ink(splits):
    x, y = splits.x_train, splits.y_train
    for number in some_numbers(x, y, 60):
        assert 1 <= len(number.label) <= number_layout.MAX_DIGITS
        assert number.label == "".join(str(y[s]) for s in number.sources)
        assert len(number.masks) == len(number.label) == len(number.detached)
        assert all(mask.any() and mask.shape == number.line.shape for mask in number.masks)
        # the ink is exactly the digits' ink, nothing else
        np.testing.assert_array_equal(number.line >= composed.INK_LEVEL,
                                      np.logical_or.reduce(number.masks))
        centres = [np.flatnonzero(m.any(axis=0)).mean() for m in number.masks]
        assert centres == sorted(centres)  # written left to right


def test_a_number_uses_only_its_source_images(splits):
    x, y = splits.x_train, splits.y_train
    for seed in range(10):
        number = composed.compose(x, y, np.random.default_rng(seed))
        others_blank = np.zeros_like(x)
        others_blank[number.sources] = x[number.sources]
        again = composed.compose(others_blank, y, np.random.default_rng(seed))
        np.testing.assert_array_equal(again.line, number.line)
        changed = x.copy()
        changed[number.sources[0]] = np.roll(x[number.sources[0]], 3, axis=1)
        moved = composed.compose(changed, y, np.random.default_rng(seed))
        assert moved.line.shape != number.line.shape or (moved.line != number.line).any()


def test_numbers_of_a_split_use_only_that_split(splits):
    def hashes(images):
        return {hashlib.sha256(image.tobytes()).hexdigest() for image in images}

    by_split = {name: hashes(composed.split_arrays(splits, name)[0])
                for name in ("train", "validation", "test")}
    for name, own in by_split.items():
        x, y = composed.split_arrays(splits, name)
        used = hashes(x[s] for number in some_numbers(x, y, 40) for s in number.sources)
        assert used <= own
        for other, theirs in by_split.items():
            if other != name:
                assert not used & (theirs - own), f"{name} numbers drew {other} digits"


def test_spacing_classes_hold_in_the_ink(splits):
    seen = Counter()
    for number in some_numbers(splits.x_train, splits.y_train, 150, seed=1):
        for (a, b), gap in zip(zip(number.masks, number.masks[1:]), number.gaps):
            seen[gap] += 1
            a_right = np.flatnonzero(a.any(axis=0)).max()
            b_left = np.flatnonzero(b.any(axis=0)).min()
            if gap == "overlapping":
                assert a_right - b_left + 1 >= number_layout.OVERLAP_COLUMNS
            elif gap == "touching":
                assert sharing_a_component(a, b)
            else:
                assert not sharing_a_component(a, b)
                clear = b_left - a_right - 1
                assert clear <= number_layout.TIGHT_GAP if gap == "tight" else clear > 3
        severity = [number_layout.SPACINGS.index(gap) for gap in number.gaps]
        expected = number_layout.SPACINGS[min(severity)] if severity else number_layout.SINGLE
        assert number.spacing == expected
    assert min(seen[gap] for gap in number_layout.SPACINGS) >= 40, seen


def test_some_sevens_fives_and_fours_lose_a_stroke_joint(splits):
    x, y = splits.x_train, splits.y_train
    for digit in (4, 5, 7):
        images = x[y == digit][:40]
        came_apart = 0
        for seed, image in enumerate(images):
            out, detached = composed.detach_stroke(image, digit, np.random.default_rng(seed))
            count = cv2.connectedComponents((out >= composed.DETACH_LEVEL).astype(np.uint8),
                                            connectivity=8)[0]
            before = cv2.connectedComponents(
                (image >= composed.DETACH_LEVEL).astype(np.uint8), connectivity=8)[0]
            assert detached == (count > before)
            came_apart += detached
        assert came_apart >= 10, f"only {came_apart} of 40 {digit}s came apart"


def test_batches_repeat_for_the_same_seed_and_epoch_and_differ_across_epochs(splits):
    x, y = splits.x_train, splits.y_train
    first = composed.batch(x, y, seed=3, epoch=1, step=2, batch_size=4)
    again = composed.batch(x, y, seed=3, epoch=1, step=2, batch_size=4)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    other = composed.batch(x, y, seed=3, epoch=2, step=2, batch_size=4)
    assert [n.label for n in other[2]] != [n.label for n in first[2]]
    # a batch is its numbers keyed by index: resuming at step 2 draws what step 2 drew
    line, number = composed.example(x, y, seed=3, epoch=1, index=2 * 4 + 1)
    assert number.label == first[2][1].label
    np.testing.assert_array_equal(first[0][1, :, :line.shape[1], 0], line / np.float32(255))
    inputs, targets, numbers = first
    assert inputs.shape[:2] == (4, written.LINE_HEIGHT) and inputs.dtype == np.float32
    np.testing.assert_array_equal(targets, composed.encode([n.label for n in numbers]))
    assert composed.encode(["407", "9"]).tolist() == [[5, 1, 8, 0, 0, 0, 0, 0],
                                                          [10, 0, 0, 0, 0, 0, 0, 0]]


def test_the_fixed_test_set_is_uniform_in_length_and_hard_enough(splits):
    x, y = splits.x_test, splits.y_test
    assert len(x) == 10_000  # the whole MNIST test split
    spacings, lengths = Counter(), Counter()
    for number in fixed_sets.fixed_numbers(x, y, fixed_sets.TEST_COUNT,
                                            fixed_sets.TEST_SEED):
        spacings[number.spacing] += 1
        lengths[len(number.label)] += 1
    assert lengths == {length: 625 for length in range(1, 9)}
    hard = (spacings["touching"] + spacings["overlapping"]) / fixed_sets.TEST_COUNT
    assert hard >= 0.30, spacings
    assert min(spacings[s] for s in number_layout.SPACINGS) >= 300, spacings


def test_the_fixed_set_renders_the_same_lines_every_time(splits):
    x, y = splits.x_test, splits.y_test
    lines, labels, metadata = fixed_sets.fixed_set(x, y, count=12)
    again, labels_again, _ = fixed_sets.fixed_set(x, y, count=12)
    assert labels == labels_again == [m["label"] for m in metadata]
    for line, other in zip(lines, again):
        np.testing.assert_array_equal(line, other)
        assert line.dtype == np.uint8 and line.shape[0] == written.LINE_HEIGHT
    first = next(fixed_sets.fixed_numbers(x, y, 12, fixed_sets.TEST_SEED))
    assert first.label == labels[0]


def test_to_line_crops_to_the_ink_and_keeps_its_aspect():
    paper = np.full((400, 600, 3), 235, np.uint8)
    cv2.rectangle(paper, (100, 150), (400, 250), (30, 30, 30), 8)  # ink 308 x 108 px
    line = mnist_style.to_line(paper, height=32)
    assert line.dtype == np.uint8 and line.shape[0] == 32
    ys, xs = np.nonzero(line > 127)
    assert ys.min() <= 3 and ys.max() >= 28  # the ink fills the height but the margin
    assert 308 / 108 * 0.85 < (np.ptp(xs) + 1) / (np.ptp(ys) + 1) < 308 / 108 * 1.15
    assert line[:, :8].max() == 0 and line[:, -8:].max() == 0  # black ends
    assert (line > 127).mean() < 0.5  # light ink on black


def test_rendered_wide_numbers_keep_their_digits_apart(splits):
    x, y = splits.x_test, splits.y_test
    kept = tried = 0
    for seed in range(200):
        rng = np.random.default_rng([seed, 0])
        number = composed.compose(x, y, rng)
        if number.spacing != "wide" or any(number.detached) or tried == 12:
            continue
        tried += 1
        for photo in (False, True):
            line = written.render(number.line, np.random.default_rng([seed, 1]), photo)
            runs = np.diff(np.r_[0, (line > 127).any(axis=0).astype(np.int8)]) == 1
            kept += int(runs.sum() >= len(number.label))
    assert tried == 12 and kept >= 0.8 * 2 * tried


def test_hand_numbers_in_training_come_from_training_hands_and_repeat(splits, monkeypatch):
    from digits.synth import hand_numbers
    from digits.synth import hands

    x, y = splits.x_train, splits.y_train
    drawn = []
    real = hand_numbers.number_photo
    monkeypatch.setattr(hand_numbers, "number_photo",
                        lambda hand, *args: drawn.append(hand) or real(hand, *args))
    made = [composed.training_example(x, y, 5, 0, i, hand_fraction=1.0, lengths=(2, 3))
            for i in range(6)]
    assert all(type(number).__name__ == "HandNumber" for _, number in made)
    assert len(drawn) == 6 and not set(drawn) & set(hands.UNSEEN_HANDS)
    assert all(2 <= len(number.label) <= 3 for _, number in made)
    line, number = composed.training_example(x, y, 5, 0, 3, hand_fraction=1.0,
                                                 lengths=(2, 3))
    assert number.label == made[3][1].label
    np.testing.assert_array_equal(line, made[3][0])
    # none of them: every number is composed from MNIST digits, exactly as `example` draws it
    line, number = composed.training_example(x, y, 5, 0, 3, hand_fraction=0.0)
    expected_line, expected = composed.example(x, y, 5, 0, 3)
    assert number.label == expected.label
    np.testing.assert_array_equal(line, expected_line)


def test_width_scale_narrows_and_widens_training_lines_only(splits):
    x, y = splits.x_train, splits.y_train
    line, _ = composed.example(x, y, 7, 0, 0)
    for scale in (0.5, 1.5):
        scaled, _ = composed.training_example(x, y, 7, 0, 0, width_scale=(scale, scale))
        assert scaled.shape == (line.shape[0], round(line.shape[1] * scale))
        # the same ink, resampled: as much of it per row (columns scaled by `scale`)
        ratio = scaled.astype(float).sum() / line.astype(float).sum()
        assert abs(ratio - scale) < 0.1 * scale


def test_outline_fraction_draws_training_numbers_hollow(splits, monkeypatch):
    from digits.synth import hands

    hollowed = []
    real = hands.hollow_out
    monkeypatch.setattr(hands, "hollow_out", lambda *a: hollowed.append(1) or real(*a))
    x, y = splits.x_train, splits.y_train
    lines = {}
    for fraction in (0.0, 1.0):
        hollowed.clear()
        lines[fraction] = [composed.training_example(x, y, 3, 0, i, photo_fraction=0.5,
                                                         outline_fraction=fraction)[0]
                           for i in range(6)]
        assert len(hollowed) == 6 * fraction  # every MNIST number outlined, or none
    assert all(a.shape[0] == b.shape[0] and not np.array_equal(a, b)
               for a, b in zip(lines[0.0], lines[1.0]))


def test_a_cut_photo_loses_a_tenth_to_a_third_of_its_ink_at_the_top_or_bottom():
    coverage = np.zeros((60, 200), np.float32)
    coverage[10:50, 20:180] = 1.0  # ink 40 rows tall
    sides = set()
    for seed in range(40):
        top = written.cut_placement(coverage, 100, np.random.default_rng(seed))
        inside = np.arange(10, 50) + top
        hidden = np.mean((inside < 0) | (inside >= 100))
        assert 0.1 <= hidden <= 0.3 + 1 / 40
        sides.add("top" if inside[0] < 0 else "bottom")
    assert sides == {"top", "bottom"}


@pytest.fixture
def plain_photos(monkeypatch):
    """Photos without corruptions, blur or noise: ink is what is darker than the paper."""
    from digits.synth import hands
    from digits.data import reader_views

    monkeypatch.setattr(reader_views, "PHOTO_CORRUPTION_PROBABILITY", 0.0)
    monkeypatch.setattr(hands, "camera", lambda photo, rng: np.clip(photo, 0, 255).astype(np.uint8))


def ink_in_first_or_last_row(photo: np.ndarray) -> bool:
    grey = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY).astype(int)
    return bool((grey[[0, -1]] < np.median(grey) - 60).any())


def test_cut_fraction_runs_photographed_lines_off_the_frame(splits, plain_photos):
    x, y = splits.x_train, splits.y_train
    for index in range(4):
        number = composed.compose(x, y, np.random.default_rng([index, 0]))
        edges = [ink_in_first_or_last_row(written.photo_view(
            number.line, np.random.default_rng([index, 1]), cut=cut)) for cut in (0.0, 1.0)]
        assert edges == [False, True]


def test_cut_fixed_numbers_are_the_same_numbers_photographed_off_the_frame(splits, plain_photos):
    # benchmarks/validation_numbers.py --cut: the fixed numbers, every one a photo run off the
    # frame's top or bottom edge; without cut the fixed sets stay as they were
    x, y = splits.x_val, splits.y_val
    for index, length in enumerate(fixed_sets.fixed_lengths(6, 77101)):
        plain = fixed_sets.fixed_item(x, y, index, length, 77101, photo_fraction=1.0)
        same = fixed_sets.fixed_item(x, y, index, length, 77101, photo_fraction=1.0, cut=0.0)
        cut = fixed_sets.fixed_item(x, y, index, length, 77101, photo_fraction=1.0, cut=1.0)
        assert np.array_equal(plain[1], same[1]) and cut[2].label == plain[2].label
        assert [ink_in_first_or_last_row(plain[0]), ink_in_first_or_last_row(cut[0])] == \
            [False, True]


def test_the_config_refuses_fractions_and_scales_out_of_range():
    from digits.config.schemas import ConfigError, NumbersDataConfig

    with pytest.raises(ConfigError, match="hand_fraction"):
        NumbersDataConfig(hand_fraction=1.5)
    for key in ("outline_fraction", "cut_fraction"):
        with pytest.raises(ConfigError, match=key):
            NumbersDataConfig(**{key: -0.1})
    with pytest.raises(ConfigError, match="width_scale"):
        NumbersDataConfig(width_scale_min=1.2, width_scale_max=0.8)


@pytest.mark.parametrize("degrees", [-10.0, 6.0])
def test_a_tilted_line_keeps_all_its_ink_and_slopes_the_right_way(degrees):
    coverage = np.zeros((40, 300), np.float32)
    coverage[10:30, 5:295] = 1.0  # a long bar standing for a line of digits
    turned = written.tilted(coverage, degrees)
    assert turned.sum() == pytest.approx(coverage.sum(), rel=0.01)  # nothing cut off the canvas
    cols = np.flatnonzero(turned.max(axis=0) > 0.5)
    left, right = (np.flatnonzero(turned[:, c] > 0.5).mean() for c in (cols[5], cols[-5]))
    # anticlockwise (positive) is uphill: the right end higher, i.e. in rows nearer the top
    assert np.sign(left - right) == np.sign(degrees)
    assert written.tilted(coverage, 0.0) is coverage
