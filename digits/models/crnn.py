"""model=crnn: a whole-number reader over a height-normalised line of ink, with CTC.

Classes are Keras' CTC convention (keras.losses.CTC, keras.ops.ctc_decode: mask_index=0): class 0
is the blank, digit d is class d + 1; labels are padded with 0. The model outputs softmax
probabilities (T, 11), T = W / TIME_STRIDE; training uses the same layers up to the "logits"
layer with the built-in CTC loss (it wants logits), so the saved model holds built-in layers only
and loads with plain keras.saving.load_model(path, safe_mode=True).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers

from digits.config.models import CrnnConfig  # the model group's schema: model=crnn
from digits.models.classifiers import conv_bn_relu
from digits.vision.number_lines import pad_lines

BLANK = 0
NUM_CLASSES = 11  # the blank and 10 digits
TIME_STRIDE = 4  # input columns per output step
PAD_MULTIPLE = 32  # lines are read padded to a multiple of this many columns


def crnn(cfg: CrnnConfig) -> keras.Model:
    """Conv blocks (a 3x3 conv, two in the last cfg.paired_blocks; then pooling: the first two
    blocks halve both sides, the rest the height only) -> one feature vector per step of
    TIME_STRIDE columns -> a sequence head -> per-step class probabilities."""
    inputs = keras.Input((cfg.height, None, 1), name="line")
    x = inputs
    first_paired = len(cfg.filters) - cfg.paired_blocks
    for block, filters in enumerate(cfg.filters):
        x = conv_bn_relu(x, filters)
        if block >= first_paired:
            x = conv_bn_relu(x, filters)
        x = layers.MaxPooling2D((2, 2) if block < 2 else (2, 1))(x)
    x = layers.Permute((2, 1, 3))(x)  # (steps, rows, channels)
    x = layers.Reshape((-1, (cfg.height >> len(cfg.filters)) * cfg.filters[-1]))(x)
    x = layers.Dropout(cfg.dropout)(layers.Dense(cfg.units, activation="relu")(x))
    if cfg.head == "conv":
        for _ in range(2):
            x = layers.Conv1D(cfg.units, 5, padding="same", activation="relu")(x)
    else:
        recurrent = {"gru": layers.GRU, "lstm": layers.LSTM}[cfg.head]
        x = layers.Bidirectional(recurrent(cfg.units, return_sequences=True))(x)
    logits = layers.Dense(NUM_CLASSES, name="logits", dtype="float32")(x)
    probabilities = layers.Activation("softmax", name="probabilities", dtype="float32")(logits)
    return keras.Model(inputs, probabilities, name="crnn")


def is_sequence_model(model: keras.Model) -> bool:
    """Whether `model` reads whole numbers: one (T, NUM_CLASSES) distribution per line."""
    shape = tuple(model.output_shape) if not isinstance(model.output_shape, list) else ()
    return len(shape) == 3 and shape[-1] == NUM_CLASSES


def training_model(model: keras.Model, learning_rate: float = 1e-3) -> keras.Model:
    """The model up to its logits (the same layers and weights), compiled with Keras' CTC loss.
    Fit this one; save `model`, which is never compiled."""
    trainable = keras.Model(model.input, model.get_layer("logits").output, name="crnn_logits")
    trainable.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=keras.losses.CTC())
    return trainable


@dataclass
class Reading:
    number: str
    digit_confidences: tuple[float, ...]  # each digit's peak probability on its steps
    confidence: float  # the probability of the whole number, summed over all its alignments


def _log(probabilities) -> np.ndarray:
    # log-probabilities are logits whose softmax is the probabilities themselves
    return np.log(np.clip(np.asarray(probabilities, np.float32), 1e-12, 1.0))


def ctc_losses(probabilities: np.ndarray, labels: list[str]) -> np.ndarray:
    """-log P(label | probabilities) for each row: the CTC loss (Keras' ctc_loss, mask_index 0)."""
    if len(labels) != len(probabilities):
        raise ValueError(f"{len(labels)} labels for {len(probabilities)} rows of probabilities")
    targets = np.zeros((len(labels), max(1, max(len(label) for label in labels))), np.int32)
    for row, label in enumerate(labels):
        targets[row, :len(label)] = [int(char) + 1 for char in label]
    steps = np.full(len(labels), probabilities.shape[1], np.int32)
    lengths = np.array([len(label) for label in labels], np.int32)
    loss = keras.ops.ctc_loss(targets, _log(probabilities), lengths, steps, mask_index=BLANK)
    return keras.ops.convert_to_numpy(loss)


def sequence_probability(probabilities: np.ndarray, labels: list[str]) -> np.ndarray:
    """P(label | probabilities) for each row: exp(-CTC loss), by the CTC forward pass in numpy.
    Keras' ctc_loss gives the same (tests/test_sequence.py) but costs about 45 ms a call on the
    CPU outside a compiled graph (TensorFlow's dense-label CTC is a scan), twice the budget for
    reading a whole photo; ctc_losses keeps it for batches of validation numbers."""
    if len(labels) != len(probabilities):
        raise ValueError(f"{len(labels)} labels for {len(probabilities)} rows of probabilities")
    return np.array([np.exp(_log_likelihood(_log(row), label))
                     for row, label in zip(probabilities, labels)])


def _log_likelihood(log_probabilities: np.ndarray, label: str) -> float:
    """log P(label) summed over every alignment (Graves et al. 2006, the forward variables)."""
    extended = np.full(2 * len(label) + 1, BLANK)  # blank, d1, blank, d2, ..., blank
    extended[1::2] = [int(char) + 1 for char in label]
    # a step may skip the blank between two different digits, never between a repeated digit
    skip = np.zeros(len(extended), bool)
    skip[2:] = (extended[2:] != BLANK) & (extended[2:] != extended[:-2])
    alpha = np.full(len(extended), -np.inf)
    alpha[:2] = log_probabilities[0, extended[:2]]
    for step in log_probabilities[1:]:
        previous = alpha
        alpha = previous.copy()
        alpha[1:] = np.logaddexp(alpha[1:], previous[:-1])
        alpha[skip] = np.logaddexp(alpha[skip], previous[np.flatnonzero(skip) - 2])
        alpha = alpha + step[extended]
    return float(np.logaddexp.reduce(alpha[-2:]))


def decode(probabilities: np.ndarray) -> list[Reading]:
    """(n, T, 11) probabilities -> one Reading per row: greedy CTC decoding (each step's likeliest
    class, runs of one class merged, blanks dropped: what keras.ops.ctc_decode's greedy strategy
    gives, tests/test_sequence.py), each digit's confidence, and the whole number's. Decoded in
    numpy: keras.ops.ctc_decode costs about 1.3 ms a call outside a compiled graph, a tenth of
    the time left for reading a photo once its line is found."""
    probabilities = np.asarray(probabilities, np.float32)
    numbers, peaks = [], []
    for row in probabilities:
        path = row.argmax(axis=-1)
        best = row[np.arange(len(path)), path]
        starts = np.flatnonzero(np.diff(path, prepend=-1))  # where each run of one class begins
        ends = np.append(starts[1:], len(path))
        runs = [(path[start], best[start:end].max()) for start, end in zip(starts, ends)
                if path[start] != BLANK]
        numbers.append("".join(str(code - 1) for code, _ in runs))
        peaks.append(tuple(float(peak) for _, peak in runs))
    wholes = sequence_probability(probabilities, numbers)
    return [Reading(number, digit_peaks, float(whole))
            for number, digit_peaks, whole in zip(numbers, peaks, wholes)]


def likeliest(views: np.ndarray) -> Reading:
    """One line read in several views ((n, T, 11) probabilities, one row per view): of the views'
    readings, the number whose probability averaged over all the views is highest. Its
    confidence is that average; its digits' confidences are those of the view that read it
    most surely."""
    readings = decode(views)
    candidates = list(dict.fromkeys(reading.number for reading in readings))  # in view order

    def probability(view: np.ndarray, reading: Reading, number: str) -> float:
        if reading.number == number:  # decode has summed it already
            return reading.confidence
        return float(sequence_probability(view[None], [number])[0])

    average = [np.mean([probability(view, reading, number)
                        for view, reading in zip(views, readings)]) for number in candidates]
    number = candidates[int(np.argmax(average))]
    surest = max((reading for reading in readings if reading.number == number),
                 key=lambda reading: reading.confidence)
    return Reading(number, surest.digit_confidences, float(max(average)))


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions turning a into b."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def exact_accuracy(predicted: list[str], true: list[str]) -> float:
    """The fraction of numbers read exactly."""
    if len(predicted) != len(true) or not true:
        raise ValueError(f"{len(predicted)} readings for {len(true)} numbers")
    return sum(p == t for p, t in zip(predicted, true)) / len(true)


def character_error_rate(predicted: list[str], true: list[str]) -> float:
    """Character error rate: the edit distances summed over all numbers / their total length."""
    if len(predicted) != len(true) or not true:
        raise ValueError(f"{len(predicted)} readings for {len(true)} numbers")
    return sum(edit_distance(p, t) for p, t in zip(predicted, true)) / sum(len(t) for t in true)


def save(model: keras.Model, path) -> None:
    """The reader (built-in layers, never compiled, no optimizer state) as a .keras file."""
    model.save(path)


def line_probabilities(model: keras.Model, lines: list[np.ndarray], batch_size: int = 64):
    """Yields (indices into `lines`, their (n, T, 11) probabilities), batch by batch. Lines go in
    by width, padded with number_lines.pad_lines (to a multiple of PAD_MULTIPLE columns), and a
    batch holds lines of one padded width only: black padding changes a bidirectional model's
    output a little, so a line's reading must not depend on the lines read with it."""
    def padded_width(i: int) -> int:
        return -(-lines[i].shape[1] // PAD_MULTIPLE)

    order = sorted(range(len(lines)), key=lambda i: lines[i].shape[1])
    for _, same_width in itertools.groupby(order, key=padded_width):
        same_width = list(same_width)
        for start in range(0, len(same_width), batch_size):
            chunk = same_width[start:start + batch_size]
            probabilities = model.predict_on_batch(pad_lines([lines[i] for i in chunk],
                                                             multiple=PAD_MULTIPLE))
            yield chunk, np.asarray(keras.ops.convert_to_numpy(probabilities))


def read_lines(model: keras.Model, lines: list[np.ndarray], batch_size: int = 64) -> list[Reading]:
    """Readings of uint8 (height, W) lines (mnist_style.to_line, written.render), in input
    order."""
    return [decode(row[None])[0] for row in ordered_probabilities(model, lines, batch_size)]


def ordered_probabilities(model: keras.Model, lines: list[np.ndarray],
                          batch_size: int = 64) -> list[np.ndarray]:
    """Each line's (T, 11) probabilities, in input order (T follows its padded width)."""
    rows: list[np.ndarray | None] = [None] * len(lines)
    for chunk, probabilities in line_probabilities(model, lines, batch_size):
        for i, row in zip(chunk, probabilities):
            rows[i] = row
    return rows


def scores(predicted: list[str], true: list[str]) -> dict:
    """{"exact_accuracy", "cer"} of readings against the true numbers."""
    return {"exact_accuracy": exact_accuracy(predicted, true),
            "cer": character_error_rate(predicted, true)}
