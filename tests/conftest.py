"""Shared fixtures. Plain helpers (SMOKE, compose_train, run_cli, photo samples) are in helpers.py:
test files import them from there, never from conftest or another test file."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from digits.config import schemas
from helpers import SMOKE, compose_train


@pytest.fixture(scope="session", autouse=True)
def digits_cache(tmp_path_factory):
    """The folder where digits caches what it computes (DIGITS_CACHE; reader_views.cache_dir).
    Tests never touch the user's ~/.cache/digits: each session gets an empty folder of its own,
    set in os.environ so the commands the tests start use it too. A DIGITS_CACHE set before the
    tests start is kept: that is how a developer or CI shares one warm cache between runs (the
    slow tests build reader views that take minutes); the cache is keyed by its inputs and
    version, so a shared one gives the same data as a fresh one."""
    if os.environ.get("DIGITS_CACHE"):
        yield os.environ["DIGITS_CACHE"]
        return
    folder = tmp_path_factory.mktemp("digits_cache")
    os.environ["DIGITS_CACHE"] = str(folder)
    yield str(folder)
    del os.environ["DIGITS_CACHE"]


@pytest.fixture
def smoke_config() -> schemas.TrainConfig:
    return compose_train(SMOKE)


@pytest.fixture(scope="session")
def live_server():
    """digits-serve on a free 127.0.0.1 port, in a thread, serving the small test model: its URL."""
    import threading
    import time

    import uvicorn

    from digits import serve
    from digits.serving import app as serving_app
    from digits.models import model_files
    from helpers import SMALL_CNN

    app = serving_app.create_app(model_files.load(SMALL_CNN), SMALL_CNN)
    sock = serve.listening_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def tiny_crnn(tmp_path_factory):
    """A small untrained sequence model (model=crnn, seeded), saved as model.keras in a folder of
    its own: it reads nonsense, so tests of the tools that read whole numbers assert on plumbing
    (what the model's own output decodes to). Copy it before writing beside it."""
    import keras

    from digits.models import crnn
    from digits.config.models import CrnnConfig

    keras.utils.set_random_seed(0)
    folder = tmp_path_factory.mktemp("crnn")
    crnn.save(crnn.crnn(CrnnConfig(filters=[8, 16, 16], units=16)), folder / "model.keras")
    return folder / "model.keras"


@pytest.fixture
def crnn_run(tiny_crnn, tmp_path):
    """tiny_crnn in a run folder of the test's own: model.keras and a metrics.json whose
    unsure_below 0 flags no reading. Tests may write beside them."""
    folder = tmp_path / "crnn_run"
    folder.mkdir()
    shutil.copy(tiny_crnn, folder / "model.keras")
    (folder / "metrics.json").write_text(json.dumps({"unsure_below": 0.0}))
    return folder
