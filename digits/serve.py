"""`digits-serve`: a web page to draw or photograph digits, and an HTTP API that reads them.

    digits-serve [--model RUN] [--number-model RUN] [--host 127.0.0.1] [--port 8000]

It serves a digit model and a number model (a sequence model): by default the two shipped
readers. FastAPI on uvicorn, one process; the app is digits.serving.app's.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

import keras
import uvicorn

from digits import cli
from digits.models import crnn, model_files, model_option
from digits.serving.app import DEFAULT_MAX_UPLOAD_MB, create_app
from digits.vision import image_files

def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)  # clients wait in the queue, never refused, while uvicorn starts
    return sock


PROG = "digits-serve"
EXAMPLES = """\
  digits-serve
  digits-serve --model RUN --number-model CRNN_RUN
  digits-serve --model model.keras --host 0.0.0.0 --port 8080
  digits-serve --model RUN --no-batching --port 0"""


def parser() -> cli.Parser:
    parser = cli.Parser(PROG, "A web page and an HTTP API that read handwritten digits.\n"
                        "Open the URL it prints; Ctrl-C stops it (exit 0).", EXAMPLES)
    parser.add_argument("--model", metavar="PATH",
                        help="the digit model: a run folder or a .keras file (default: the "
                             "shipped digit reader); a sequence model here is served alone, "
                             "for mode=number")
    parser.add_argument("--number-model", metavar="PATH",
                        help="the number model, a sequence model (model=crnn) that reads "
                             "mode=number whole (default: the shipped number reader; without "
                             "one, numbers are cut into digits for the digit model)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0: every network)")
    parser.add_argument("--port", type=int, default=8000, help="default 8000; 0 picks a free port")
    parser.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB, metavar="MB",
                        help="largest request body accepted, a batch's files together "
                             f"(default {DEFAULT_MAX_UPLOAD_MB})")
    parser.add_argument("--max-pixels", type=int, default=image_files.DEFAULT_MAX_PIXELS, metavar="N",
                        help="largest image accepted, in pixels, read from its header "
                             f"(default {image_files.DEFAULT_MAX_PIXELS})")
    parser.add_argument("--no-batching", dest="batching", action="store_false",
                        help="call the model once per request (to compare with batching)")
    return parser


def number_model(args: argparse.Namespace,
                 model: keras.Model) -> tuple[keras.Model | None, Path | None]:
    """(the number model, its path): --number-model, else the shipped number reader; (None,
    None) when --model is itself a sequence model, or no number model is shipped."""
    if crnn.is_sequence_model(model):
        if args.number_model is not None:
            raise cli.CommandError("--model is a sequence model (it reads numbers): give the "
                                   "digit model as --model, the number model as --number-model")
        return None, None
    path = (Path(args.number_model) if args.number_model is not None
            else model_files.default_model_path("number"))
    if path is None:
        return None, None
    try:
        loaded = model_files.load(path)
    except model_files.ModelLoadError as error:
        raise cli.CommandError(str(error)) from None
    if not crnn.is_sequence_model(loaded):
        raise cli.CommandError(f"--number-model {path} is not a sequence model (model=crnn): "
                               "give a digit model as --model")
    return loaded, path


def command(args: argparse.Namespace) -> int:
    model_path = model_option.model_path(PROG, args)
    model = model_option.load_model(PROG, args)
    numbers, numbers_path = number_model(args, model)
    try:
        sock = listening_socket(args.host, args.port)
    except OSError as error:
        raise cli.CommandError(f"cannot listen on {args.host}:{args.port}: "
                               f"{error.strerror or error}") from None
    app = create_app(model, model_path, number_model=numbers, number_model_path=numbers_path,
                     batching=args.batching,
                     max_upload_mb=args.max_upload_mb, max_pixels=args.max_pixels)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"{PROG}: open http://{shown}:{port}/ (API docs: /docs; Ctrl-C stops)",
          file=sys.stderr, flush=True)
    try:
        uvicorn.Server(uvicorn.Config(app, log_level="info")).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shuts down, then raises the Ctrl-C again: we are done
        pass
    return cli.OK  # Ctrl-C is how a server is stopped, not a failure


def main(argv: list[str] | None = None) -> int:
    return cli.run(PROG, lambda: command(parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
