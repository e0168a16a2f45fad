"""benchmarks/whole_numbers.py: the figures it prints are the readers' own, recomputed here (the
component reader photo by photo through digit_reader.read_number, photos of unseen hands as
digits-handwriting writes them)."""

from __future__ import annotations

import csv
import re
import runpy
from pathlib import Path

import numpy as np
import pytest
from helpers import DATA, SMALL_CNN

from digits import predict
from digits.data import datasets
from digits.synth import hand_numbers
from digits.synth import hands
from digits.models import model_files
from digits.reading import number_reader
from digits.data.numbers import fixed_sets
from digits.models import crnn
from digits.vision import mnist_style
from digits.config.schemas import DataConfig
from digits.vision.image_files import decode
from digits.reading import digit_reader

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "whole_numbers.py"
COUNT = 16


def sections(text: str) -> dict[str, str]:
    parts = text.split("\n== ")[1:]
    return {part.splitlines()[0]: "\n".join(part.splitlines()[1:]) for part in parts}


def rows(section: str) -> dict[str, list[str]]:
    """group -> [n, component exact, CER, sequence exact, CER] as printed."""
    found = {}
    for line in section.splitlines():
        cells = line.split()
        if len(cells) >= 6 and re.fullmatch(r"\d+", cells[-5]):
            found[" ".join(cells[:-5])] = cells[-5:]
    return found


def expected_rows(labels, spacings, component, sequential) -> dict[str, list[str]]:
    groups = {"all": list(range(len(labels)))}
    for index, (label, spacing) in enumerate(zip(labels, spacings)):
        groups.setdefault(f"length {len(label)}", []).append(index)
        if spacing:
            groups.setdefault(spacing, []).append(index)
    out = {}
    for group, chosen in groups.items():
        true = [labels[i] for i in chosen]
        cells = [str(len(chosen))]
        for readings in (component, sequential):
            got = [readings[i] for i in chosen]
            cells += [f"{crnn.exact_accuracy(got, true):.4f}",
                      f"{crnn.character_error_rate(got, true):.4f}"]
        out[group] = cells
    return out


def flag_line(name, numbers, confidences, labels, threshold=0.5) -> str:
    flagged = [not n or c < threshold for n, c in zip(numbers, confidences)]
    kept = [i for i, flag in enumerate(flagged) if not flag]
    exact = sum(numbers[i] == labels[i] for i in kept)
    return (f"{name}: flagged unsure {sum(flagged) / len(numbers):.4f} ({sum(flagged)} of "
            f"{len(numbers)}); not flagged exact {exact / max(len(kept), 1):.4f} "
            f"({exact} of {len(kept)}); nothing read {sum(not n for n in numbers)}")


def read_one_by_one(digit_model, seq_model, images):
    """The component reader photo by photo; the sequence reader all lines at once (it reads each
    line in a group of its own padded width, so the others never change its reading)."""
    component = [digit_reader.read_number(digit_model, image) for image in images]
    lines = []
    for image in images:
        try:
            lines.append(mnist_style.to_line(image))
        except mnist_style.NoDigitError:
            lines.append(None)
    readings = iter(number_reader.read(seq_model, [line for line in lines if line is not None]))
    return component, [None if line is None else next(readings) for line in lines]


def test_printed_figures_are_the_readers_figures(tmp_path, capsys):
    """With a tiny untrained sequence model and the small test CNN."""
    seq_path = tmp_path / "crnn.keras"
    crnn.save(crnn.crnn(crnn.CrnnConfig(filters=(8, 16, 16), units=16)), seq_path)
    runpy.run_path(str(BENCHMARK), run_name="benchmark")["main"](
        ["--model", str(seq_path), "--digit-model", str(SMALL_CNN), "--count", str(COUNT),
         "--hands-photos", "1", "--repeats", "1"])
    found = sections(capsys.readouterr().out)
    titles = list(found)
    assert len(titles) == 4
    digit_model, seq_model = model_files.load(SMALL_CNN), model_files.load(seq_path)

    # the fixed set's first COUNT numbers: the component reader reads the photo, the sequence
    # reader the line made from it
    splits = datasets.load(DataConfig(), seed=0)
    lengths = fixed_sets.fixed_lengths(fixed_sets.TEST_COUNT, fixed_sets.TEST_SEED)
    made = [fixed_sets.fixed_item(splits.x_test, splits.y_test, i, lengths[i])
            for i in range(COUNT)]
    labels = [number.label for _, _, number in made]
    component = [digit_reader.read_number(digit_model, image) for image, _, _ in made]
    sequential = number_reader.read(seq_model, [line for _, line, _ in made])
    assert rows(found[titles[0]]) == expected_rows(
        labels, [number.spacing for _, _, number in made],
        [r.number or "" for r in component], [r.number for r in sequential])
    assert flag_line("component", [r.number or "" for r in component],
                     [r.confidence for r in component], labels) in found[titles[0]]
    assert flag_line("sequence", [r.number for r in sequential],
                     [r.confidence for r in sequential], labels) in found[titles[0]]

    # the shared number photos
    with open(DATA / "numbers" / "labels.csv") as file:
        shared = list(csv.DictReader(file))
    images = [decode(DATA / "numbers" / row["path"]) for row in shared]
    component, sequential = read_one_by_one(digit_model, seq_model, images)
    assert rows(found[titles[1]]) == expected_rows(
        [row["label"] for row in shared], [None] * len(shared),
        [r.number or "" for r in component], [r.number if r else "" for r in sequential])

    # one photo of each unseen hand, written as digits-handwriting writes it
    paths = [path for hand in hands.UNSEEN_HANDS
             for path in hand_numbers.write_numbers(tmp_path / "hands", 1, hand,
                                                    hands.FIRST_MEASURING_SEED)]
    labels = [hand_numbers.label_of(path) for path in paths]
    component, sequential = read_one_by_one(digit_model, seq_model,
                                            [decode(path) for path in paths])
    expected = expected_rows(labels, [None] * len(paths), [r.number or "" for r in component],
                             [r.number if r else "" for r in sequential])
    printed_rows = rows(found[titles[2]])
    assert {group: printed_rows[group] for group in expected} == expected

    # speed: the 6-digit photo is read as what it shows by the component reader
    assert re.search(r"^component: \d+\.\d\d ms per photo \(median of 1, read '552753'\)$",
                     found[titles[3]], re.M)
    assert re.search(r"^sequence: \d+\.\d\d ms per photo", found[titles[3]], re.M)


def test_the_fixed_set_items_are_the_fixed_sets_numbers():
    splits = datasets.load(DataConfig(), seed=0)
    x, y = splits.x_test[:2000], splits.y_test[:2000]
    lines, labels, metadata = fixed_sets.fixed_set(x, y, count=8)
    lengths = fixed_sets.fixed_lengths(8, fixed_sets.TEST_SEED)
    for index in range(8):
        image, line, number = fixed_sets.fixed_item(x, y, index, lengths[index])
        np.testing.assert_array_equal(line, lines[index])
        assert number.label == labels[index] and number.metadata() == metadata[index]
        assert image.ndim in (2, 3) and image.shape[0] > line.shape[0]
