"""model=crnn: the sequence reader, CTC decoding with confidences, its metrics."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

from digits.data import datasets
from digits.data.numbers import composed
from digits.models import crnn
from digits.config.schemas import DataConfig
from helpers import load_in_plain_keras

TINY = crnn.CrnnConfig(filters=(8, 16, 16), units=16, dropout=0.0)


def path_probabilities(path: list[int], sure: float = 0.9) -> np.ndarray:
    """(1, T, 11): each step gives `sure` to its class of `path`, the rest spread evenly."""
    out = np.full((1, len(path), crnn.NUM_CLASSES), (1 - sure) / 10, np.float32)
    out[0, np.arange(len(path)), path] = sure
    return out


def collapse(path) -> str:
    digits = [c for c, _ in itertools.groupby(path)]
    return "".join(str(c - 1) for c in digits if c != crnn.BLANK)


@pytest.mark.parametrize("head", ["gru", "lstm", "conv"])
def test_crnn_gives_one_distribution_per_time_step(head):
    model = crnn.crnn(crnn.CrnnConfig(filters=(8, 16, 16), units=8, head=head))
    for width in (64, 96):
        out = np.asarray(model(np.random.rand(2, 32, width, 1).astype(np.float32)))
        assert out.shape == (2, width // crnn.TIME_STRIDE, crnn.NUM_CLASSES)
        np.testing.assert_allclose(out.sum(axis=-1), 1, atol=1e-5)


def test_paired_blocks_add_a_second_conv_to_the_last_blocks_only():
    def conv_shapes(paired: int) -> list[tuple]:
        model = crnn.crnn(crnn.CrnnConfig(filters=(8, 16, 24), units=8,
                                                  paired_blocks=paired))
        return [tuple(layer.kernel.shape) for layer in model.layers
                if isinstance(layer, keras.layers.Conv2D)]

    assert conv_shapes(0) == [(3, 3, 1, 8), (3, 3, 8, 16), (3, 3, 16, 24)]
    assert conv_shapes(2) == [(3, 3, 1, 8), (3, 3, 8, 16), (3, 3, 16, 16),
                              (3, 3, 16, 24), (3, 3, 24, 24)]
    with pytest.raises(ValueError, match="model.paired_blocks=4 is invalid"):
        crnn.CrnnConfig(filters=(8, 16, 24), paired_blocks=4)


@pytest.mark.parametrize("label", ["", "7", "11", "1001", "90817263", "55555555"])
def test_decoding_an_encoded_label_gives_it_back(label):
    encoded = composed.encode([label])[0]
    path = [crnn.BLANK]
    for code in encoded[encoded > 0]:
        path += [int(code), int(code), crnn.BLANK]  # two steps a digit, a blank between
    reading = crnn.decode(path_probabilities(path))[0]
    assert reading.number == label
    np.testing.assert_allclose(reading.digit_confidences, [0.9] * len(label), rtol=1e-5)
    # at least the one path's probability, summed with the other alignments of the label
    assert 0.9 ** len(path) * (1 - 1e-5) <= reading.confidence <= 1


def test_greedy_decoding_is_keras_ctc_decodes():
    rng = np.random.default_rng(0)
    for concentration in (0.1, 0.5, 3.0):  # peaked to flat distributions
        probabilities = rng.dirichlet(np.full(crnn.NUM_CLASSES, concentration),
                                      size=(16, 24)).astype(np.float32)
        probabilities[::3, ::2, crnn.BLANK] += 1.0  # some rows mostly blank
        probabilities /= probabilities.sum(axis=-1, keepdims=True)
        decoded, _ = keras.ops.ctc_decode(np.log(probabilities), np.full(16, 24, np.int32),
                                          strategy="greedy", mask_index=crnn.BLANK)
        expected = ["".join(str(c - 1) for c in row if c > crnn.BLANK)
                    for row in keras.ops.convert_to_numpy(decoded)[0]]
        assert [r.number for r in crnn.decode(probabilities)] == expected
        assert any(len(number) > 2 for number in expected)


def test_confidences_are_the_peak_and_the_sum_over_alignments():
    # T = 3: brute force over all 11**3 paths for P("3"), against the CTC sum
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.full(crnn.NUM_CLASSES, 0.3), size=(1, 3))
    probabilities[0, :, crnn.BLANK] += [1.5, 0.0, 1.5]  # blanks around a likely "3"
    probabilities[0, 1, 4] += 1.2
    probabilities = (probabilities / probabilities.sum(axis=-1, keepdims=True)).astype(np.float32)
    brute = {}
    for path in itertools.product(range(crnn.NUM_CLASSES), repeat=3):
        p = np.prod([probabilities[0, t, c] for t, c in enumerate(path)])
        brute[collapse(path)] = brute.get(collapse(path), 0.0) + p
    reading = crnn.decode(probabilities)[0]
    assert reading.number == "3"
    np.testing.assert_allclose(reading.confidence, brute["3"], rtol=1e-4)
    assert reading.digit_confidences == pytest.approx((probabilities[0, 1, 4],))
    three = np.repeat(probabilities, 3, axis=0)
    np.testing.assert_allclose(crnn.sequence_probability(three, ["3", "", "37"]),
                               [brute["3"], brute[""], brute["37"]], rtol=1e-4)


def test_an_unsure_step_lowers_the_whole_number_confidence():
    sure = crnn.decode(path_probabilities([0, 5, 5, 0, 8, 8, 0]))[0]
    unsure_path = path_probabilities([0, 5, 5, 0, 8, 8, 0])
    unsure_path[0, 3] = 0.0
    unsure_path[0, 3, [0, 2]] = 0.55, 0.45  # the blank, or a "1" between "4" and "7"
    unsure = crnn.decode(unsure_path)[0]
    assert sure.number == "47"
    assert unsure.confidence < 0.7 * sure.confidence


def test_the_number_likeliest_over_all_views_is_kept():
    # view 0 reads "47" surely; view 1 reads "17", but gives "47" some probability too
    first = path_probabilities([0, 5, 5, 0, 8, 8, 0], sure=0.95)
    second = path_probabilities([0, 2, 2, 0, 8, 8, 0], sure=0.9)
    second[0, 1:3, [2, 5]] = [[0.5, 0.5], [0.45, 0.45]]
    views = np.concatenate([first, second])
    assert [reading.number for reading in crnn.decode(views)] == ["47", "17"]
    average = {number: crnn.sequence_probability(views, [number] * 2).mean()
               for number in ("47", "17")}
    assert average["47"] > average["17"]
    reading = crnn.likeliest(views)
    assert reading.number == "47"
    assert reading.confidence == pytest.approx(average["47"], rel=1e-6)
    assert reading.digit_confidences == pytest.approx((0.95, 0.95))  # the surer view's
    # views that agree: their reading, with their confidence averaged
    agreeing = crnn.likeliest(np.concatenate([first, first]))
    assert agreeing == crnn.decode(first)[0]


def test_exact_accuracy_and_character_error_rate_on_hand_made_cases():
    assert crnn.edit_distance("123", "13") == 1
    assert crnn.edit_distance("", "12") == 2
    assert crnn.edit_distance("972555", "9702555") == 1
    assert crnn.edit_distance("18999", "897") == 3  # drop 1, 9 for 7, drop 9
    assert crnn.edit_distance("4321", "1234") == 4
    assert crnn.exact_accuracy(["12", "3", "45"], ["12", "4", "45"]) == pytest.approx(2 / 3)
    # one substitution in "3" -> "4", one deletion in "45" -> "4": 2 errors in 5 characters
    assert crnn.character_error_rate(["12", "4", "4"], ["12", "3", "45"]) == pytest.approx(0.4)
    assert crnn.character_error_rate(["12", "3"], ["12", "3"]) == 0
    with pytest.raises(ValueError):
        crnn.exact_accuracy(["1"], ["1", "2"])


def test_a_tiny_crnn_lowers_its_ctc_loss_on_easy_numbers():
    splits = datasets.load(DataConfig(train_size=1000, val_size=200, test_size=10), seed=0)
    x, y = splits.x_train, splits.y_train
    model = crnn.crnn(TINY)
    trainable = crnn.training_model(model, learning_rate=3e-3)
    held = composed.batch(x, y, seed=0, epoch=99, step=0, batch_size=32, photo_fraction=0.0,
                              lengths=(1, 2))
    before = trainable.evaluate(held[0], held[1], verbose=0)
    for step in range(30):
        inputs, targets, _ = composed.batch(x, y, seed=0, epoch=0, step=step, batch_size=16,
                                                photo_fraction=0.0, lengths=(1, 2))
        trainable.train_on_batch(inputs, targets)
    after = trainable.evaluate(held[0], held[1], verbose=0)
    assert after < 0.5 * before, (before, after)
    # the reader shares the trained weights: its probabilities are the logits' softmax
    logits = np.asarray(trainable(held[0][:2]))
    expected = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(np.asarray(model(held[0][:2])), expected, atol=1e-5)


def test_the_saved_reader_loads_in_plain_keras_without_digits(tmp_path):
    model = crnn.crnn(TINY)
    crnn.training_model(model)  # compiling the training view leaves the reader uncompiled
    path = tmp_path / "crnn.keras"
    crnn.save(model, path)
    inputs = np.random.default_rng(0).random((1, 32, 80, 1)).astype(np.float32)
    (loaded,) = load_in_plain_keras([path], inputs)
    assert not loaded.compiled
    np.testing.assert_allclose(loaded.output, np.asarray(model(inputs)), atol=1e-5)


def test_the_numpy_forward_pass_equals_keras_ctc_loss():
    """decode's whole-number confidence (numpy) and the CTC loss Keras trains with agree, on
    long lines, repeated digits and the empty reading."""
    rng = np.random.default_rng(3)
    labels = ["", "7", "11", "4007", "12345678", "99999"]
    probabilities = rng.dirichlet(np.full(crnn.NUM_CLASSES, 0.5), size=(len(labels), 40))
    probabilities = probabilities.astype(np.float32)
    np.testing.assert_allclose(-np.log(crnn.sequence_probability(probabilities, labels)),
                               crnn.ctc_losses(probabilities, labels), rtol=1e-4)
