"""digits-serve with a sequence model (issue 14): mode=number reads the photo's whole line, as
digits-predict --number does; mode=digit is refused."""

import json
import shutil

import pytest
from fastapi.testclient import TestClient

from digits.models import model_files
from digits.serving import app as serving_app
from digits.vision.image_files import decode
from digits.reading import digit_reader
from helpers import PHOTOS

PHOTO = PHOTOS / "number_003.jpg"


@pytest.fixture(scope="module")
def crnn_run(tiny_crnn, tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    shutil.copy(tiny_crnn, folder / "model.keras")
    (folder / "metrics.json").write_text(json.dumps({"unsure_below": 0.0}))
    return folder


@pytest.fixture(scope="module")
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
    assert client.get("/api/health").json()["model"]["reads"] == "numbers"
