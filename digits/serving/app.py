"""The web app of digits-serve: a page to draw or photograph digits, and an HTTP API that reads
them.

The page (digits/web/) is served from the package itself and loads nothing from elsewhere. Photos
are decoded and cut into digits in threads, never in the event loop; the digits of concurrent
requests go through the digit model together (digits.serving.batching). A sequence model
(model=crnn), when one is served, reads each image's whole line in mode=number; without one,
numbers are cut into digits for the digit model.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

import cv2
import keras
import numpy as np
from fastapi import FastAPI, File, HTTPException, Query, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from digits.reading import digit_reader, number_reader
from digits.serving import readers
from digits.serving.batching import Batcher
from digits.serving.uploads import UploadLimit
from digits.vision import image_files

WEB = Path(__file__).resolve().parent.parent / "web"
MAX_BATCH_FILES = 64
DEFAULT_MAX_UPLOAD_MB = 10
log = logging.getLogger("digits.serve")

Mode = Literal["digit", "number"]
MODE = Query("digit", description="`digit`: the image holds one digit; `number`: read every "
                                  "digit, left to right")
Source = Literal[digit_reader.SOURCES]
SOURCE = Query("photo", description="`photo`: a photo, cleaned up (paper, light, ruled lines, "
                                    "stray ink); `drawing`: drawn on a pad (the page's), read "
                                    "as drawn: cropped, centred, scaled")
IMAGE = Query(False, description="add `image`: what the model saw, as a base64 PNG (the 28x28 "
                                 "digits side by side, or the line a sequence model read)")


class UploadError(Exception):
    """A file the server cannot read: its HTTP status and the reason, in plain words."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


def prepare_upload(data: bytes, name: str, number: bool, max_pixels: int, line: bool = False,
                   source: str = "photo") -> tuple[digit_reader.Reading, list[np.ndarray]]:
    """Uploaded bytes -> (the Reading to fill in, the 28x28 digits, or with `line` the line of
    ink a sequence model reads), as digit_reader.prepare makes them of a photo or a drawing
    (`source`); runs in a worker thread."""
    try:
        image = image_files.decode_bytes(data, max_pixels)
    except image_files.ImageTooLargeError as error:
        raise UploadError(413, str(error)) from None
    except (ValueError, cv2.error) as error:
        raise UploadError(422, str(error)) from None
    try:
        return digit_reader.prepare(image, name, number, line, source)
    except Exception:  # no client file may cost a 5xx; the log keeps the trace for us
        log.exception("preparing %r failed", name)
        raise UploadError(422, "this image could not be read as handwriting") from None


def png_base64(image: np.ndarray) -> str:
    return base64.b64encode(cv2.imencode(".png", image)[1].tobytes()).decode("ascii")


def create_app(model: keras.Model, model_path: str | Path, *,
               number_model: keras.Model | None = None,
               number_model_path: str | Path | None = None, batching: bool = True,
               max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
               max_pixels: int = image_files.DEFAULT_MAX_PIXELS,
               min_confidence: float | None = None) -> FastAPI:
    """The web app: the page at /, the API under /api, OpenAPI docs at /docs.

    `model` reads digits, and numbers cut into digits unless `number_model` (a sequence model)
    is given: then that reads numbers whole. A sequence model given as `model` is served alone,
    for mode=number. `min_confidence` None: each model's own unsure_below (readers.serve), else
    the cut of `model`'s readings."""
    for_digits, for_numbers = readers.digit_and_number(model, model_path, number_model,
                                               number_model_path, min_confidence)
    max_upload = int(max_upload_mb * 1024 * 1024)
    batcher = Batcher(lambda images: digit_reader.classify(for_digits.model, images),
                      enabled=batching)
    workers = ThreadPoolExecutor(os.cpu_count() or 2, thread_name_prefix="digits-prepare")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        batcher.close()
        workers.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="digits", summary="Reads handwritten digits in images.",
                  lifespan=lifespan)
    app.add_middleware(UploadLimit, max_bytes=max_upload,
                       reason=f"upload too large: at most {max_upload_mb:g} MB per request")
    app.state.batcher = batcher

    async def read_upload(upload: UploadFile, number: bool, with_image: bool,
                          source: str) -> dict:
        """One uploaded file -> one entry of `digits-predict --json`; UploadError if unreadable."""
        if for_digits is None and not number:
            raise UploadError(422, "this server's model reads whole numbers: use mode=number")
        lines = number and for_numbers is not None
        name = upload.filename or "upload"
        data = await upload.read()
        loop = asyncio.get_running_loop()
        with batcher.preparing():
            reading, boxes = await loop.run_in_executor(
                workers, prepare_upload, data, name, number, max_pixels, lines, source)
        if lines:  # one line per request: read it in a worker, off the event loop
            line = await loop.run_in_executor(workers, number_reader.read, for_numbers.model,
                                              boxes)
            reading = digit_reader.fill_in_lines([(reading, boxes)], line,
                                                 for_numbers.unsure_below)[0]
        else:
            probabilities = await batcher.classify(boxes)
            reading = digit_reader.fill_in([(reading, boxes)], probabilities, number,
                                           for_digits.unsure_below)[0]
        result = reading.to_json(number)
        if with_image and reading.image is not None:
            result["image"] = png_base64(reading.image)
        return result

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request, error: RequestValidationError) -> JSONResponse:
        reasons = [f"{'.'.join(str(part) for part in e['loc'][1:]) or e['loc'][0]}: {e['msg']}"
                   for e in error.errors()]
        return JSONResponse({"detail": "; ".join(reasons)}, 422)

    @app.post("/api/predict", summary="Read one image",
              responses={413: {"description": "upload or image too large"},
                         422: {"description": "not a readable image, or a bad parameter"}})
    async def predict_one(file: UploadFile = File(description="a photo or drawing"),
                          mode: Mode = MODE, source: Source = SOURCE,
                          image: bool = IMAGE) -> dict:
        """One entry of `digits-predict --json` (with `number` and `digits` in number mode).
        An image without ink is answered 200 with `error` set and `digit` null, as the CLI does."""
        try:
            return await read_upload(file, mode == "number", image, source)
        except UploadError as error:
            raise HTTPException(error.status, error.reason) from None

    @app.post("/api/predict/batch", summary=f"Read up to {MAX_BATCH_FILES} images",
              form_limits={"max_files": MAX_BATCH_FILES})
    async def predict_batch(files: list[UploadFile] = File(description="the images"),
                            mode: Mode = MODE, source: Source = SOURCE,
                            image: bool = IMAGE) -> list[dict]:
        """One entry per file, in order; a file that cannot be read gets its `error`."""
        async def entry(upload: UploadFile) -> dict:
            try:
                return await read_upload(upload, mode == "number", image, source)
            except UploadError as error:
                failed = digit_reader.Reading(upload.filename or "upload", error=error.reason)
                return failed.to_json(mode == "number")
        return list(await asyncio.gather(*(entry(upload) for upload in files)))

    @app.get("/api/health", summary="The models being served")
    async def health() -> dict:
        """`models`: the digit model and the number model (a sequence model), each null when not
        served; without a number model, numbers are cut into digits for the digit model."""
        return {"status": "ok",
                "models": {"digit": for_digits.describe() if for_digits else None,
                           "number": for_numbers.describe() if for_numbers else None},
                "batching": batcher.enabled, "max_upload_mb": max_upload_mb,
                "max_pixels": max_pixels, "max_batch_files": MAX_BATCH_FILES}

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(WEB / "index.html")

    app.mount("/static", StaticFiles(directory=WEB), name="static")
    return app
