"""digits-predict --number with a sequence model: the photo's line read whole, one
confidence per digit and for the number, flagged under a threshold; a digit model still cuts."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest

from digits import cli, predict
from digits.models import model_files
from digits.reading import number_reader
from digits.models import crnn as sequence
from digits.vision import mnist_style
from digits.vision import number_lines
from digits.vision.image_files import decode
from digits.reading import digit_reader
from helpers import PHOTOS, SMALL_CNN

NUMBER_PHOTOS = [PHOTOS / "number_001.jpg", PHOTOS / "number_003.jpg"]


@pytest.fixture(scope="module")
def crnn(tiny_crnn):
    return model_files.load(tiny_crnn)


def own_reading(model, image) -> sequence.Reading:
    """What the model's own output on the photo's line, in its two views, decodes to."""
    views = number_reader.views(mnist_style.to_line(image))
    return sequence.likeliest(model.predict(number_lines.pad_lines(views), verbose=0))


@pytest.mark.parametrize("photo", NUMBER_PHOTOS, ids=lambda p: p.name)
def test_a_sequence_model_reads_the_photos_whole_line(crnn, photo):
    image = cv2.imread(str(photo))
    reading = digit_reader.read_number(crnn, image, str(photo))
    expected = own_reading(crnn, image)
    assert reading.reader == "sequence" and reading.error is None
    assert reading.number == expected.number and len(reading.number) > 0
    assert reading.confidence == pytest.approx(expected.confidence, rel=1e-4)
    assert [d["digit"] for d in reading.digits] == [int(c) for c in expected.number]
    assert [d["confidence"] for d in reading.digits] == pytest.approx(
        list(expected.digit_confidences), rel=1e-4)
    assert reading.image.shape == mnist_style.to_line(image).shape  # the line, not 28x28 boxes


def test_a_digit_model_still_reads_numbers_by_components():
    reading = digit_reader.read_number(model_files.load(SMALL_CNN),
                                       cv2.imread(str(NUMBER_PHOTOS[1])))
    assert reading.reader == "components" and reading.number == "552753"
    assert reading.image.shape == (28, 28 * 6)


def test_the_whole_number_confidence_decides_the_flag(crnn):
    image = cv2.imread(str(NUMBER_PHOTOS[0]))
    confidence = digit_reader.read_number(crnn, image).confidence
    trusted = digit_reader.read_number(crnn, image, min_confidence=confidence * 0.99)
    flagged = digit_reader.read_number(crnn, image, min_confidence=confidence * 1.01)
    assert not trusted.low_confidence and flagged.low_confidence
    assert flagged.number == trusted.number  # flagged, not changed
    # untrained: every reading is far under the default threshold
    assert digit_reader.read_number(crnn, image).low_confidence
    empty = sequence.Reading("", (), 0.99)  # ink, but no digit read: never trusted
    assert number_reader.is_flagged(empty, 0.5)


def test_unsure_below_comes_from_the_models_metrics(crnn_run):
    (crnn_run / "metrics.json").unlink()
    assert number_reader.unsure_below(crnn_run) == number_reader.UNSURE_BELOW
    (crnn_run / "metrics.json").write_text(json.dumps({"unsure_below": 0.83}))
    assert number_reader.unsure_below(crnn_run) == 0.83
    assert number_reader.unsure_below(crnn_run / "model.keras") == 0.83
    (crnn_run / "metrics.json").write_text("{not json")
    assert number_reader.unsure_below(crnn_run) == number_reader.UNSURE_BELOW


def test_a_blank_photo_gets_an_error_not_a_number(crnn):
    reading = digit_reader.read_number(crnn, np.full((300, 400, 3), 230, np.uint8))
    assert reading.number is None and "no ink" in reading.error and not reading.unreadable


def test_cli_writes_per_digit_confidences_and_flags_by_the_runs_threshold(crnn, crnn_run,
                                                                         tmp_path, capsys):
    out = tmp_path / "out"
    arguments = ["--model", str(crnn_run), "--number", *map(str, NUMBER_PHOTOS),
                 "--json", str(out) + ".json", "--csv", str(out) + ".csv"]
    assert predict.main(arguments) == cli.OK
    printed = capsys.readouterr().out
    entries = json.loads((tmp_path / "out.json").read_text())
    rows = list(csv.DictReader(open(tmp_path / "out.csv")))
    for photo, entry, row in zip(NUMBER_PHOTOS, entries, rows):
        expected = own_reading(crnn, decode(photo))  # as the CLI decodes it
        assert set(entry) == {"path", "digit", "confidence", "top3", "low_confidence", "error",
                              "number", "digits", "reader"}
        assert entry["reader"] == "sequence" and entry["number"] == expected.number
        assert entry["low_confidence"] is False  # unsure_below 0 from the run's metrics.json
        assert [d["confidence"] for d in entry["digits"]] == pytest.approx(
            list(expected.digit_confidences), rel=1e-4)
        assert row["prediction"] == expected.number
        assert [float(c) for c in row["digit_confidences"].split()] == pytest.approx(
            list(expected.digit_confidences), abs=1e-4)
        assert f" {expected.number} " in printed
    # --min-confidence overrides the run's threshold
    assert predict.main(arguments[:-4] + ["--json", str(out) + "2.json",
                                          "--min-confidence", "0.5"]) == cli.OK
    assert all(e["low_confidence"] for e in json.loads((tmp_path / "out2.json").read_text()))


def test_cli_refuses_a_sequence_model_without_number(crnn_run, capsys):
    assert predict.main(["--model", str(crnn_run), str(NUMBER_PHOTOS[0])]) == cli.USAGE
    assert capsys.readouterr().err == ("digits-predict: this model reads whole numbers (a "
                                       "sequence model): add --number, or give a single-digit "
                                       "model\n")


def test_number_without_model_uses_the_shipped_number_reader(tiny_crnn, monkeypatch, capsys):
    asked = []
    monkeypatch.setattr(model_files, "default_model_path",
                        lambda kind="digit": asked.append(kind) or tiny_crnn)
    assert predict.main(["--number", str(NUMBER_PHOTOS[0])]) == cli.OK
    assert asked and set(asked) == {"number"}
    printed = capsys.readouterr().out
    assert own_reading(model_files.load(tiny_crnn), decode(NUMBER_PHOTOS[0])).number in printed


def test_number_without_model_and_no_number_reader_shipped_cuts_with_the_digit_reader(
        monkeypatch, tmp_path):
    asked = []
    monkeypatch.setattr(model_files, "default_model_path", lambda kind="digit": asked.append(kind)
                        or (SMALL_CNN if kind == "digit" else None))
    output = tmp_path / "readings.json"
    assert predict.main(["--number", "--json", str(output), str(NUMBER_PHOTOS[0])]) == cli.OK
    assert asked[:2] == ["number", "digit"]  # asked for a number reader first
    (reading,) = json.loads(output.read_text())
    assert reading["reader"] == "components"
    expected = digit_reader.read_number(model_files.load(SMALL_CNN), decode(NUMBER_PHOTOS[0]))
    assert reading["number"] == expected.number


def test_a_lines_reading_does_not_depend_on_the_lines_read_with_it(crnn):
    narrow, wide = (mnist_style.to_line(cv2.imread(str(photo))) for photo in NUMBER_PHOTOS)
    assert -(-narrow.shape[1] // 32) < -(-wide.shape[1] // 32)  # padded to different widths
    assert number_reader.read(crnn, [narrow, wide])[0] == number_reader.read(crnn, [narrow])[0]
    assert number_reader.read(crnn, [wide, narrow])[1] == number_reader.read(crnn, [narrow])[0]


def test_a_line_is_read_in_two_views_of_one_width(crnn):
    line = mnist_style.to_line(cv2.imread(str(NUMBER_PHOTOS[0])))
    views = number_reader.views(line)
    assert [view.shape for view in views] == [views[1].shape] * len(number_reader.READ_WIDTHS)
    assert views[1].shape[1] == round(line.shape[1] * max(number_reader.READ_WIDTHS))
    squeezed = number_lines.scale_width(line, min(number_reader.READ_WIDTHS))
    np.testing.assert_array_equal(views[0][:, :squeezed.shape[1]], squeezed)
    assert not views[0][:, squeezed.shape[1]:].any()  # black padding
    readings = sequence.decode(crnn.predict(number_lines.pad_lines(views), verbose=0))
    (reading,) = number_reader.read(crnn, [line])
    assert reading.number in [view.number for view in readings]


def test_a_line_read_as_no_digit_is_shown_as_none_and_flagged():
    empty = digit_reader.Reading("a.jpg", number="", digits=[], low_confidence=True, reader="sequence")
    row = predict.table([empty], number=True).splitlines()[1]
    assert row.split()[:2] == ["a.jpg", "(none)"] and row.endswith("(low confidence)")
