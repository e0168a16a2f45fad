"""digits-serve with a sequence model: mode=number reads the photo's (or drawing's) whole line, as
digits-predict --number does, and returns that line as what the model saw. Served beside a digit
model, each keeps its own unsure cut; served alone, mode=digit is refused."""

import base64
import json

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from digits.models import model_files
from digits.reading import digit_reader, number_reader
from digits.serving import app as serving_app
from digits.vision import drawing
from digits.vision.image_files import decode
from helpers import PHOTOS, SMALL_CNN, drawn_digit

PHOTO = PHOTOS / "number_003.jpg"


@pytest.fixture
def client(crnn_run):
    with TestClient(serving_app.create_app(model_files.load(crnn_run), crnn_run)) as client:
        yield client


def post(client, **params):
    return client.post("/api/predict", params=params,
                       files={"file": ("photo.jpg", PHOTO.read_bytes())})


def test_number_mode_answers_what_digits_predict_reads(client, crnn_run):
    body = post(client, mode="number").json()
    cli_reading = digit_reader.read_number(model_files.load(crnn_run), decode(PHOTO), "photo.jpg",
                                      min_confidence=0.0)
    assert body == json.loads(json.dumps(cli_reading.to_json(True)))
    assert body["reader"] == "sequence" and len(body["digits"]) == len(body["number"])
    assert body["low_confidence"] is False  # unsure_below 0 from the run's metrics.json


def test_digit_mode_is_refused_with_the_reason(client):
    response = post(client, mode="digit")
    assert response.status_code == 422
    assert response.json() == {"detail": "this server's model reads whole numbers: use "
                                         "mode=number"}


def test_health_says_the_model_reads_numbers(client):
    models = client.get("/api/health").json()["models"]
    assert models["number"]["reads"] == "numbers" and models["digit"] is None


@pytest.fixture
def both(crnn_run):
    """A digit model and a sequence model served together."""
    app = serving_app.create_app(model_files.load(SMALL_CNN), SMALL_CNN,
                                 number_model=model_files.load(crnn_run),
                                 number_model_path=crnn_run)
    with TestClient(app) as client:
        yield client


def seen(body) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(base64.b64decode(body["image"]), np.uint8), 0)


def test_beside_a_digit_model_numbers_go_to_the_number_reader(both):
    body = post(both, mode="number", image="true").json()
    assert body["reader"] == "sequence"
    assert np.array_equal(seen(body), number_reader.line_of(decode(PHOTO)))  # the line it read
    assert body["low_confidence"] is False  # the sequence model's own cut: 0 in its metrics.json
    digit = post(both, mode="digit").json()
    assert digit["digit"] is not None and "reader" not in digit


def test_each_model_keeps_its_own_unsure_cut(both, crnn_run):
    models = both.get("/api/health").json()["models"]
    assert models["number"]["unsure_below"] == 0.0 and models["number"]["path"] == str(
        crnn_run / "model.keras")
    assert models["digit"]["unsure_below"] == digit_reader.MIN_CONFIDENCE


def test_a_drawn_number_is_read_as_drawn_by_the_number_reader(both):
    image = drawn_digit("17", paper=255, ink=17)
    body = both.post("/api/predict", params={"mode": "number", "source": "drawing",
                                             "image": "true"},
                     files={"file": ("drawing.png", cv2.imencode(".png", image)[1].tobytes())})
    assert body.json()["reader"] == "sequence"
    assert np.array_equal(seen(body.json()), drawing.to_line(image))
    assert not np.array_equal(seen(body.json()), number_reader.line_of(image))  # not as a photo


def test_a_digit_model_is_refused_as_the_number_model():
    with pytest.raises(ValueError, match="not a sequence model"):
        serving_app.create_app(model_files.load(SMALL_CNN), SMALL_CNN,
                               number_model=model_files.load(SMALL_CNN),
                               number_model_path=SMALL_CNN)
