"""digits-predict and its Python API, on committed photo samples and generated bad files."""

import json

import cv2
import numpy as np
import pytest

from digits import predict
from digits.models import model_files
from digits.vision import image_files
from digits.reading import digit_reader
from helpers import (PHOTOS, SMALL_CNN as MODEL, assert_png_drawn, drawn_digit, labelled_photos,
                     run_cli)


@pytest.fixture(scope="module")
def model():
    return model_files.load(MODEL)


def test_api_reads_single_digit_photos(model):
    photos = [(path, label) for path, label in labelled_photos() if len(label) == 1]
    images = [cv2.imread(str(path)) for path, _ in photos]
    readings = digit_reader.read_digits(model, images, [str(p) for p, _ in photos])
    assert [r.digit for r in readings] == [int(label) for _, label in photos]
    for reading in readings:
        assert reading.error is None and 0.5 < reading.confidence <= 1.0
        assert [t["digit"] for t in reading.top3][0] == reading.digit and len(reading.top3) == 3
        assert reading.image.shape == (28, 28)


def test_api_reads_numbers(model):
    for path, label in labelled_photos():
        if len(label) > 1:
            reading = digit_reader.read_number(model, cv2.imread(str(path)), str(path))
            assert reading.number == label
            assert len(reading.digits) == len(label)


def test_blank_page_gets_no_digit_and_a_reason(model):
    reading = digit_reader.read_digits(model, [np.full((480, 640, 3), 220, np.uint8)])[0]
    assert reading.digit is None and "no ink" in reading.error
    assert not reading.unreadable


def test_low_confidence_is_marked(model):
    scribble = np.full((200, 200), 230, np.uint8)
    cv2.circle(scribble, (100, 100), 60, 20, 40)
    cv2.line(scribble, (40, 40), (160, 160), 20, 30)
    cv2.line(scribble, (160, 40), (40, 160), 20, 30)
    confidence = digit_reader.read_digits(model, [scribble])[0].confidence
    confident = digit_reader.read_digits(model, [scribble], min_confidence=confidence - 1e-4)[0]
    assert not confident.low_confidence
    doubtful = digit_reader.read_digits(model, [scribble], min_confidence=confidence + 1e-4)[0]
    assert doubtful.low_confidence and doubtful.digit == confident.digit


@pytest.fixture
def bad_files(tmp_path):
    good = [tmp_path / "good4.jpg", tmp_path / "good9.jpg"]
    good[0].write_bytes((PHOTOS / "Humor-Sans_4_0.jpg").read_bytes())
    good[1].write_bytes((PHOTOS / "Humor-Sans_9_1.jpg").read_bytes())
    grey = cv2.cvtColor(drawn_digit("7"), cv2.COLOR_BGR2GRAY)
    files = {
        "missing.png": None,
        "empty.png": b"",
        "text.png": b"this is text, not a picture\n",
        "random.jpg": np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes(),
        "truncated.jpg": (PHOTOS / "breipfont_2_0.jpg").read_bytes()[:1500],
    }
    for name, content in files.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
    cv2.imwrite(str(tmp_path / "sixteen.png"), grey.astype(np.uint16) * 257)
    rgba = np.zeros((480, 640, 4), np.uint8)
    rgba[..., 3] = 255 - grey
    cv2.imwrite(str(tmp_path / "transparent.png"), rgba)
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    cv2.imwrite(str(tmp_path / "huge.jpg"), cv2.resize(drawn_digit("7"), (8000, 6000)))
    cv2.imwrite(str(tmp_path / "tiny.png"), np.zeros((5, 5), np.uint8))
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((480, 640, 3), 225, np.uint8))
    return tmp_path


def test_cli_handles_every_bad_input_and_still_reads_the_good_ones(bad_files):
    names = ["good4.jpg", "missing.png", "empty.png", "text.png", "random.jpg", "truncated.jpg",
             "sixteen.png", "transparent.png", "grey.png", "huge.jpg", "tiny.png", "blank.png",
             "good9.jpg"]
    result = run_cli("digits.predict", "--model", str(MODEL), "--json", "out.json", *names,
                     cwd=bad_files)
    assert result.returncode == 1  # some files failed
    assert "Traceback" not in result.stderr
    readings = {r["path"]: r for r in json.loads((bad_files / "out.json").read_text())}
    assert list(readings) == names
    assert readings["good4.jpg"]["digit"] == 4 and readings["good9.jpg"]["digit"] == 9
    for name in ("sixteen.png", "transparent.png", "grey.png", "huge.jpg"):
        assert readings[name]["digit"] == 7 and readings[name]["error"] is None, name
    expected_errors = {"missing.png": "not found", "empty.png": "empty",
                       "text.png": "not a readable image", "random.jpg": "not a readable image",
                       "truncated.jpg": "not a readable image", "tiny.png": "too small",
                       "blank.png": "no ink"}
    for name, reason in expected_errors.items():
        assert readings[name]["digit"] is None and reason in readings[name]["error"], name
    assert "5 of 13 inputs could not be read" in result.stderr


def test_cli_numbers_folders_csv_and_plot(tmp_path):
    result = run_cli("digits.predict", "--model", str(MODEL), "--number", "--csv",
                     str(tmp_path / "out.csv"), "--plot", str(tmp_path / "out.png"),
                     "--json", str(tmp_path / "out.json"), str(PHOTOS / "number_*.jpg"))
    assert result.returncode == 0, result.stderr[-2000:]
    readings = json.loads((tmp_path / "out.json").read_text())
    assert [r["number"] for r in readings] == ["8737", "552753"]
    assert all(r["digit"] is None and len(r["digits"]) == len(r["number"]) for r in readings)
    assert "552753" in result.stdout and (tmp_path / "out.csv").read_text().count("\n") == 3
    assert_png_drawn(tmp_path / "out.png", 700, 440, panels=(2, 2))  # each photo, what was read


def test_cli_refuses_a_bad_model_without_traceback(tmp_path):
    (tmp_path / "model.keras").write_text("not a model")
    result = run_cli("digits.predict", "--model", str(tmp_path), str(PHOTOS / "grey.png"))
    assert result.returncode == 2 and "cannot load the model" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("option", ["--json", "--csv", "--plot"])
def test_an_existing_output_file_is_refused_and_kept_unless_overwrite(tmp_path, option, capsys):
    output = tmp_path / "mine.out"
    output.write_text("the user's own file\n")
    photo = str(PHOTOS / "Humor-Sans_4_0.jpg")
    assert predict.main(["--model", str(MODEL), option, str(output), photo]) == 2
    refused = capsys.readouterr()
    assert refused.out == ""  # refused before reading anything
    assert refused.err.strip() == (f"digits-predict: {option} {output} already exists; "
                                   "add --overwrite to replace it")
    assert output.read_text() == "the user's own file\n"
    assert predict.main(["--model", str(MODEL), option, str(output), "--overwrite", photo]) == 0
    assert output.read_bytes() != b"the user's own file\n" and output.stat().st_size > 20


def test_large_jpegs_are_decoded_reduced_but_never_below_the_working_size(tmp_path):
    path = tmp_path / "large.jpg"
    cv2.imwrite(str(path), cv2.resize(drawn_digit("3"), (4000, 3000)))
    image = image_files.decode(path)
    assert image.shape[:2] == (375, 500)  # 1/8: the largest reduction keeping >= 480 px
    small = tmp_path / "small.jpg"
    cv2.imwrite(str(small), drawn_digit("3", size=(300, 400)))
    assert image_files.decode(small).shape[:2] == (300, 400)
