"""digits-serve's HTTP API, through FastAPI's test client and a real server on 127.0.0.1: every
route, every kind of bad input (never a 5xx), batching, the same answers as digits-predict, and
drawings read as drawn (source=drawing) by the two shipped readers served together."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import select
import signal
import socket
import subprocess
import sys
import zlib
from urllib.parse import urlsplit

import cv2
import httpx
import numpy as np
import PIL.Image
import pytest
from fastapi.testclient import TestClient

from digits import serve
from digits.models import model_files
from digits.serving import app as serving_app
from digits.vision import image_files
from helpers import PHOTOS, SMALL_CNN, labelled_photos, run_cli

MAX_UPLOAD_MB = 1  # small, so the too-large bodies below stay small


@pytest.fixture(scope="module")
def model():
    return model_files.load(SMALL_CNN)


@pytest.fixture(scope="module")
def client(model):
    with TestClient(serving_app.create_app(model, SMALL_CNN, max_upload_mb=MAX_UPLOAD_MB)) as client:
        yield client


def jpeg(name: str) -> bytes:
    return (PHOTOS / name).read_bytes()


def upload(client, data: bytes, name="photo.jpg", **params):
    return client.post("/api/predict", params=params, files={"file": (name, data)})


# The start of a multipart body holding one file, whose bytes follow (a body streamed in parts).
PART_HEAD = (b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
             b"Content-Type: image/jpeg\r\n\r\n")


def png_bomb(width=20_000, height=20_000) -> bytes:
    """A real decompression bomb: a few hundred kB of PNG that decode to width * height bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    compressor, row = zlib.compressobj(9), bytes(width + 1)  # filter byte + one grey row
    pixels = b"".join(compressor.compress(row * 500) for _ in range(height // 500))
    pixels += compressor.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b""))


# --- routes -----------------------------------------------------------------------------------

def test_health_names_the_model_its_parameters_and_metrics(client, model, tmp_path):
    body = client.get("/api/health").json()
    assert body["status"] == "ok" and body["batching"] is True
    served = body["models"]["digit"]
    assert served["name"] == model.name and served["reads"] == "digits"
    assert served["parameters"] == model.count_params() == 117_914
    assert served["metrics"] is None  # a bare .keras file has no run beside it
    assert served["unsure_below"] == 0.6  # digit_reader.MIN_CONFIDENCE
    assert body["models"]["number"] is None  # numbers are cut into digits for the digit model
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(SMALL_CNN.read_bytes())
    (run / "metrics.json").write_text(json.dumps({"test_accuracy": 0.9881}))
    with TestClient(serving_app.create_app(model, run)) as run_client:
        assert run_client.get("/api/health").json()["models"]["digit"]["metrics"] == {
            "test_accuracy": 0.9881}


def test_a_calibrated_models_unsure_below_flags_readings_unless_overridden(client, model,
                                                                          tmp_path):
    photo = jpeg("Humor-Sans_4_0.jpg")
    default = upload(client, photo).json()
    assert default["confidence"] >= 0.6 and not default["low_confidence"]  # MIN_CONFIDENCE
    run = tmp_path / "calibrated"
    run.mkdir()
    (run / "model.keras").write_bytes(SMALL_CNN.read_bytes())
    cut = min(1.0, default["confidence"] + 1e-3)  # as digits-calibrate writes it
    (run / "metrics.json").write_text(json.dumps({"unsure_below": cut}))
    with TestClient(serving_app.create_app(model, run)) as calibrated:
        assert upload(calibrated, photo).json()["low_confidence"]
    with TestClient(serving_app.create_app(model, run, min_confidence=0.5)) as overridden:
        assert not upload(overridden, photo).json()["low_confidence"]


def test_the_page_its_files_and_the_api_docs_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '<canvas id="pad"' in page.text and 'capture="environment"' in page.text
    for asset, kind in (("static/app.js", "javascript"), ("static/style.css", "css")):
        assert asset in page.text
        response = client.get("/" + asset)
        assert response.status_code == 200 and kind in response.headers["content-type"]
    assert "http" not in page.text.replace("http://", "").split("<body>")[0]  # nothing remote
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/predict", "/api/predict/batch", "/api/health"} <= set(paths)


def test_one_photo_gets_one_entry_of_digits_predict_json(client, tmp_path):
    """Same photo, same answer: the API's JSON equals the CLI's, confidences within 1e-4."""
    for number in (False, True):
        photos_ = [path for path, label in labelled_photos() if (len(label) > 1) == number]
        out = tmp_path / f"cli{number}.json"
        result = run_cli("digits.predict", "--model", str(SMALL_CNN), *map(str, photos_),
                         "--json", str(out), *(["--number"] if number else []))
        assert result.returncode == 0, result.stderr
        for path, expected in zip(photos_, json.loads(out.read_text())):
            response = upload(client, path.read_bytes(), path.name,
                              mode="number" if number else "digit")
            assert response.status_code == 200
            got = response.json()
            assert got["path"] == path.name and expected["path"] == str(path)
            assert_close(got, expected, ignore={"path"})


def assert_close(got, expected, ignore=frozenset(), tolerance=1e-4):
    if isinstance(expected, dict):
        assert set(got) == set(expected)
        for key in set(expected) - ignore:
            assert_close(got[key], expected[key], tolerance=tolerance)
    elif isinstance(expected, list):
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            assert_close(a, b, tolerance=tolerance)
    elif isinstance(expected, float):
        assert abs(got - expected) <= tolerance
    else:
        assert got == expected


def test_reading_has_all_ten_probabilities_and_the_image_the_model_saw(client):
    body = upload(client, jpeg("Humor-Sans_9_1.jpg"), image="true").json()
    assert body["digit"] == 9 and len(body["probabilities"]) == 10
    assert abs(sum(body["probabilities"]) - 1) < 1e-4
    assert int(np.argmax(body["probabilities"])) == 9
    assert body["probabilities"][9] == body["confidence"]
    seen = cv2.imdecode(np.frombuffer(base64.b64decode(body["image"]), np.uint8),
                        cv2.IMREAD_UNCHANGED)
    assert seen.shape == (28, 28) and seen.max() > 200 and seen[0].max() == 0  # centred digit
    assert "image" not in upload(client, jpeg("Humor-Sans_9_1.jpg")).json()


def test_number_mode_reads_every_digit(client):
    body = upload(client, jpeg("number_003.jpg"), mode="number", image="true").json()
    assert body["number"] == "552753" and len(body["digits"]) == 6
    assert all(len(d["probabilities"]) == 10 for d in body["digits"])
    seen = cv2.imdecode(np.frombuffer(base64.b64decode(body["image"]), np.uint8), 0)
    assert seen.shape == (28, 28 * 6)


def test_a_blank_photo_is_answered_with_the_reason_as_the_cli_does(client):
    blank = cv2.imencode(".png", np.full((300, 400), 230, np.uint8))[1].tobytes()
    response = upload(client, blank, "blank.png")
    assert response.status_code == 200
    assert response.json()["digit"] is None and "no ink" in response.json()["error"]
    speck = cv2.imencode(".png", np.zeros((5, 5), np.uint8))[1].tobytes()
    response = upload(client, speck, "speck.png")
    assert response.status_code == 200 and "too small" in response.json()["error"]


def test_batch_reads_each_file_in_order_and_names_the_bad_ones(client):
    names = ["Humor-Sans_4_0.jpg", "breipfont_2_0.jpg", "Rufscript010_7_0.jpg"]
    files = [("files", (name, jpeg(name))) for name in names]
    files.insert(1, ("files", ("broken.jpg", jpeg(names[0])[:500])))
    response = client.post("/api/predict/batch", files=files)
    assert response.status_code == 200
    body = response.json()
    assert [entry["path"] for entry in body] == [names[0], "broken.jpg", *names[1:]]
    assert [entry["digit"] for entry in body] == [4, None, 2, 7]
    assert "not a readable image" in body[1]["error"]


def test_batch_of_more_than_64_files_is_refused(client):
    tiny = cv2.imencode(".png", np.zeros((8, 8), np.uint8))[1].tobytes()
    files = [("files", (f"{i}.png", tiny)) for i in range(65)]
    response = client.post("/api/predict/batch", files=files)
    assert response.status_code == 400 and "64" in response.json()["detail"]
    assert client.post("/api/predict/batch", files=files[:64]).status_code == 200


# --- bad input: a 4xx with a reason, never a 5xx ----------------------------------------------

@pytest.mark.parametrize("name, data, params, status, reason", [
    ("empty.jpg", b"", {}, 422, "empty file"),
    ("notes.txt", b"this is not an image\n" * 50, {}, 422, "not a readable image"),
    ("truncated.jpg", jpeg("Humor-Sans_4_0.jpg")[:1500], {}, 422, "not a readable image"),
    ("truncated.png", cv2.imencode(".png", np.full((200, 200), 99, np.uint8))[1].tobytes()[:60],
     {}, 422, "not a readable image"),
    ("photo.jpg", jpeg("Humor-Sans_4_0.jpg"), {"mode": "letters"}, 422, "mode"),
    ("photo.jpg", jpeg("Humor-Sans_4_0.jpg"), {"image": "maybe"}, 422, "image"),
    ("photo.jpg", jpeg("Humor-Sans_4_0.jpg"), {"source": "pencil"}, 422,
     "source: Input should be 'photo' or 'drawing'"),
])
def test_bad_uploads_get_a_4xx_and_a_reason(client, name, data, params, status, reason):
    response = upload(client, data, name, **params)
    assert response.status_code == status
    assert reason in response.json()["detail"]


@pytest.mark.parametrize("width, height, reason", [
    (10_000, 6_000, "10000x6000 pixels (60.0 megapixels): more than the limit of 50 megapixels"),
    (20_000, 20_000, "over 179 megapixels"),  # so large that Pillow itself refuses it
])
def test_a_decompression_bomb_is_refused_from_its_header(client, width, height, reason):
    bomb = png_bomb(width, height)
    assert len(bomb) < 1_000_000  # tens of megapixels in well under the upload limit
    response = upload(client, bomb, "bomb.png")
    assert response.status_code == 413 and reason in response.json()["detail"]
    with pytest.raises(image_files.ImageTooLargeError):  # the CLI's decoding refuses it too
        image_files.decode_bytes(bomb)


def test_missing_file_field_and_malformed_bodies_get_4xx(client):
    assert client.post("/api/predict", data={"photo": "x"}).status_code == 422
    response = client.post("/api/predict", content=b"--x\r\nnonsense",
                           headers={"content-type": "multipart/form-data; boundary=x"})
    assert 400 <= response.status_code < 500


def image_in(image_format: str) -> bytes:
    buffer = io.BytesIO()
    PIL.Image.open(PHOTOS / "breipfont_6_1.jpg").convert("RGB").save(buffer, image_format)
    return buffer.getvalue()


def test_corrupted_images_of_every_format_never_get_a_5xx(client):
    rng = np.random.default_rng(0)
    for image_format in ("JPEG", "PNG", "BMP", "TIFF", "WEBP", "GIF", "DDS", "TGA"):
        good = image_in(image_format)
        for _ in range(12):  # bytes changed in the header and anywhere, some files cut short
            data = bytearray(good)
            for index in [*rng.integers(0, 120, size=3), *rng.integers(0, len(data), size=20)]:
                data[index] = int(rng.integers(0, 256))
            data = data[:int(rng.integers(len(data) // 2, len(data) + 1))]
            assert upload(client, bytes(data)).status_code in (200, 413, 422)
    dds = bytearray(image_in("DDS"))
    dds[80:84] = (146).to_bytes(4, "little")  # Pillow: NotImplementedError, not a ValueError
    response = upload(client, bytes(dds), "odd.dds")
    assert response.status_code == 422 and "not a readable image" in response.json()["detail"]


def test_too_large_uploads_get_413_with_or_without_content_length(client):
    big = os.urandom(MAX_UPLOAD_MB * 1024 * 1024 + 1)
    response = upload(client, big, "big.jpg")
    assert response.status_code == 413 and "at most 1 MB" in response.json()["detail"]

    def chunks():
        yield PART_HEAD
        for _ in range(4):
            yield bytes(512 * 1024)
    response = client.post("/api/predict", content=chunks(),
                           headers={"content-type": "multipart/form-data; boundary=x"})
    assert response.status_code == 413 and "at most 1 MB" in response.json()["detail"]


def test_a_real_server_refuses_a_chunked_upload_while_it_streams(live_server):
    """50 MB sent chunked to a 10 MB limit: the 413 arrives before the client has sent it all."""
    url = urlsplit(live_server)
    sock = socket.create_connection((url.hostname, url.port), timeout=30)
    sock.sendall(b"POST /api/predict HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n"
                 b"Content-Type: multipart/form-data; boundary=x\r\n\r\n")
    piece = bytes(64 * 1024)
    frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    sock.sendall(f"{len(PART_HEAD):x}\r\n".encode() + PART_HEAD + b"\r\n")
    sent = 0
    while sent < 50 * 1024 * 1024 and not select.select([sock], [], [], 0)[0]:
        try:
            sock.sendall(frame)
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(piece)
    answer = sock.recv(65536)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 413") and b"upload too large" in answer
    assert sent < 50 * 1024 * 1024


# --- batching -----------------------------------------------------------------------------------

async def concurrent_uploads(app, count: int) -> list[httpx.Response]:
    names = [path.name for path, label in labelled_photos() if len(label) == 1]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await asyncio.gather(*(
            client.post("/api/predict", files={"file": (names[i % len(names)],
                                                        jpeg(names[i % len(names)]))})
            for i in range(count)))


def test_concurrent_requests_share_model_calls_and_get_their_own_answers(model):
    labels = {path.name: int(label) for path, label in labelled_photos() if len(label) == 1}
    for batching in (True, False):
        app = serving_app.create_app(model, SMALL_CNN, batching=batching)
        responses = asyncio.run(concurrent_uploads(app, 24))
        assert all(r.status_code == 200 for r in responses)
        assert all(r.json()["digit"] == labels[r.json()["path"]] for r in responses)
        calls = app.state.batcher.calls
        assert (calls < 24) if batching else (calls == 24)


# --- the command --------------------------------------------------------------------------------

def test_the_command_needs_a_loadable_model_and_a_free_port(tmp_path):
    result = run_cli("digits.serve", "--model", str(tmp_path / "missing.keras"), "--port", "0")
    assert result.returncode == 2 and result.stderr.startswith("digits-serve: no model at")
    assert len(result.stderr.strip().splitlines()) == 1
    if model_files.default_model_path() is None:  # until the package ships a model
        result = run_cli("digits.serve", "--port", "0")
        assert result.returncode == 2 and "--model PATH" in result.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run_cli("digits.serve", "--model", str(SMALL_CNN), "--port",
                         str(taken.getsockname()[1]))
    assert result.returncode == 2 and "cannot listen on 127.0.0.1:" in result.stderr


def test_without_options_the_command_serves_both_shipped_readers(model, tiny_crnn, capsys):
    shipped = model_files.default_model_path("number")
    assert serve.number_model(serve.parser().parse_args([]), model)[1] == shipped
    given = serve.parser().parse_args(["--number-model", str(tiny_crnn)])
    assert serve.number_model(given, model)[1] == tiny_crnn
    assert serve.main(["--number-model", str(SMALL_CNN), "--port", "0"]) == 2
    assert "is not a sequence model" in capsys.readouterr().err
    assert serve.main(["--model", str(tiny_crnn), "--number-model", str(tiny_crnn),
                       "--port", "0"]) == 2
    assert "--model is a sequence model" in capsys.readouterr().err


def test_the_command_serves_and_stops_cleanly_on_ctrl_c(tiny_crnn):
    process = subprocess.Popen([sys.executable, "-m", "digits.serve", "--model", str(SMALL_CNN),
                                "--number-model", str(tiny_crnn), "--port", "0"],
                               stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stderr:
            if line.startswith("digits-serve: open "):
                url = line.split()[2]
                break
        else:
            pytest.fail("digits-serve printed no URL")
        health = httpx.get(url + "api/health", timeout=30)
        models = health.json()["models"]
        assert health.status_code == 200 and models["digit"]["name"] == "cnn"
        assert models["number"]["path"] == str(tiny_crnn) and models["number"]["reads"] == "numbers"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.stderr.close()


# --- the two shipped readers, and drawings --------------------------------------------------------

@pytest.fixture(scope="module")
def shipped_client():
    """The app as digits-serve starts it without options: both shipped readers."""
    digit, number = model_files.default_model_path("digit"), model_files.default_model_path("number")
    app = serving_app.create_app(model_files.load(digit), digit, number_model=model_files.load(number),
                                 number_model_path=number)
    with TestClient(app) as client:
        yield client


def pad_drawing(strokes, size=(400, 600)) -> bytes:
    """Strokes in fractions of the pad, drawn as the page draws them: a white pad, a #111 pen
    0.06 of the pad's height wide with round caps and joins; a PNG, as the page sends it."""
    height, width = size
    pad = np.full((height, width, 3), 255, np.uint8)
    for stroke in strokes:
        points = np.int32([(x * width, y * height) for x, y in stroke])
        cv2.polylines(pad, [points], False, (0x11,) * 3, round(0.06 * height), cv2.LINE_AA)
    return cv2.imencode(".png", pad)[1].tobytes()


WIDE_SEVEN = [[(0.25, 0.2), (0.75, 0.2), (0.42, 0.85)]]  # a bar over half the pad, the diagonal


def test_a_wide_mouse_drawn_seven_is_read_as_drawn(shipped_client):
    body = upload(shipped_client, pad_drawing(WIDE_SEVEN), "drawing.png", source="drawing").json()
    assert body["digit"] == 7, body["top3"]
    batch = shipped_client.post("/api/predict/batch", params={"source": "drawing"},
                                files=[("files", ("drawing.png", pad_drawing(WIDE_SEVEN)))])
    assert batch.json()[0]["digit"] == 7


def test_health_lists_both_readers_each_with_its_own_unsure_cut(shipped_client):
    models = shipped_client.get("/api/health").json()["models"]
    for kind, reads in (("digit", "digits"), ("number", "numbers")):
        served = models[kind]
        assert served["reads"] == reads
        assert served["path"] == str(model_files.default_model_path(kind))
        assert served["unsure_below"] == served["metrics"]["unsure_below"]
    assert models["digit"]["unsure_below"] != models["number"]["unsure_below"]


def test_number_mode_uses_the_number_reader_and_returns_its_line(shipped_client):
    body = upload(shipped_client, jpeg("number_003.jpg"), mode="number", image="true").json()
    assert body["reader"] == "sequence" and body["number"] == "552753"
    line = cv2.imdecode(np.frombuffer(base64.b64decode(body["image"]), np.uint8), 0)
    assert line.shape[0] == 32 and line.shape[1] > 6 * 16  # the whole line, not 28x28 digits
    assert upload(shipped_client, jpeg("number_003.jpg"), mode="digit").json()["digit"] is not None
