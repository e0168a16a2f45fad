"""data.pool_size: training numbers drawn once (as training_example draws them), cached, and read
back by key; batches from the pool keep their lengths and are keyed on (seed, epoch, step)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import compose_train
from digits.data.numbers import number_pool
from digits.data.numbers import composed
from digits.training import train_numbers
from digits.config.schemas import ConfigError

LENGTHS = (1, 4)


@pytest.fixture
def digits_split():
    rng = np.random.default_rng(0)
    x = np.zeros((60, 28, 28), np.uint8)
    x[:, 6:22, 10:18] = rng.integers(150, 256, (60, 16, 8))  # a bar of ink per digit
    return x, rng.integers(0, 10, 60)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITS_CACHE", str(tmp_path))
    return tmp_path


def test_the_pool_holds_training_examples_and_is_read_back_from_the_cache(digits_split, cache,
                                                                           monkeypatch):
    x, y = digits_split
    pool = number_pool.load(x, y, 12, 5, 0.5, LENGTHS, 0.0)
    assert len(pool.labels) == 12 and len(list(cache.glob("train-numbers-*.npz"))) == 1
    for index in (0, 7, 11):
        line, number = composed.training_example(x, y, 5, number_pool.POOL_EPOCH, index,
                                                     0.5, LENGTHS)
        np.testing.assert_array_equal(pool.line(index), line)
        assert pool.labels["label"][index] == number.label
        assert pool.lengths[index] == len(number.label)

    monkeypatch.setattr(number_pool, "draw", lambda *args, **kw: pytest.fail("drawn again"))
    again = number_pool.load(x, y, 12, 5, 0.5, LENGTHS, 0.0)
    np.testing.assert_array_equal(again.lines, pool.lines)
    np.testing.assert_array_equal(again.labels, pool.labels)
    for seed, options in ((6, {}), (5, {"outline_fraction": 0.2}), (5, {"cut_fraction": 0.1})):
        with pytest.raises(pytest.fail.Exception, match="drawn again"):  # another pool
            number_pool.load(x, y, 12, seed, 0.5, LENGTHS, 0.0, **options)


def test_threads_draw_the_same_pool_as_one(digits_split):
    x, y = digits_split
    alone = number_pool.draw(x, y, 10, 5, 0.5, LENGTHS, 0.0, workers=1)
    shared = number_pool.draw(x, y, 10, 5, 0.5, LENGTHS, 0.0, workers=2)
    np.testing.assert_array_equal(shared[0], alone[0])
    np.testing.assert_array_equal(shared[1], alone[1])
    assert len(alone[1]) == 10


def test_a_pool_batch_keeps_its_lengths_scales_widths_and_repeats_by_key(digits_split, cache):
    x, y = digits_split
    pool = number_pool.load(x, y, 40, 5, 0.0, LENGTHS, 0.0)
    inputs, targets, labels = number_pool.batch(pool, 3, 1, 2, 16, (3, 4), 4, (0.5, 0.5))
    assert {len(label) for label in labels} <= {3, 4} and len(labels) == 16
    np.testing.assert_array_equal(targets, composed.encode(labels))
    widest = max(pool.labels["width"][pool.lengths >= 3])
    assert inputs.shape[2] <= -(-round(widest * 0.5) // 32) * 32  # every line halved in width
    again, _, same_labels = number_pool.batch(pool, 3, 1, 2, 16, (3, 4), 4, (0.5, 0.5))
    np.testing.assert_array_equal(again, inputs)
    assert same_labels == labels
    _, _, other = number_pool.batch(pool, 3, 2, 2, 16, (3, 4), 4, (0.5, 0.5))
    assert other != labels


def test_a_run_with_a_pool_streams_its_batches_by_key(digits_split, cache, tmp_path):
    cfg = compose_train(["data=numbers", "model=crnn", "data.pool_size=30", "data.max_digits=3",
                         "data.steps_per_epoch=2"])
    x, y = digits_split
    pool = train_numbers.training_pool(x, y, cfg.data, cfg.seed)
    assert len(pool.labels) == 30
    stream = train_numbers.training_stream(x, y, cfg.data, 4, cfg.seed, first_epoch=1, pool=pool)
    [(lines, targets)] = list(stream.take(1).as_numpy_iterator())
    expected, expected_targets, _ = train_numbers.epoch_batch(x, y, cfg.data, 4, cfg.seed, 1, 0,
                                                              pool)
    np.testing.assert_array_equal(lines, expected)
    np.testing.assert_array_equal(targets, expected_targets)
    assert train_numbers.training_pool(x, y, compose_train(["data=numbers", "model=crnn"]).data,
                                       cfg.seed) is None
    with pytest.raises(ConfigError, match="data.pool_size"):
        compose_train(["data=numbers", "model=crnn", "data.pool_size=-1"])
