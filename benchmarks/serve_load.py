"""Serving load: digits-serve under concurrent uploads, with dynamic batching on and off, then a
long stream of good and bad uploads.

    python benchmarks/serve_load.py --model RUN [--requests 1000] [--stream 2000]

Starts `digits-serve` as its own process on 127.0.0.1 (a free port) and uploads the photos of
tests/data/photos re-encoded as 640x480 JPEGs (as benchmarks/predict_speed.py does), from 1, 8 and
32 concurrent clients (threads, one keep-alive connection each), and prints requests/s, p50, p95
and p99 latency and errors for each. Then, against a fresh server, a bounded stream of uploads
mixing good photos with every kind of bad input (empty, not an image, truncated, a decompression
bomb, too large with and without Content-Length, an unknown mode, no file, a blank page, a batch
of 65): it counts 5xx answers (0 expected), checks every good photo's answer against
`digits-predict --json` on the same files (same digit, confidences within 1e-4), and prints the
server's resident memory before and after.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import cv2
import numpy as np

PHOTOS = Path(__file__).resolve().parent.parent / "tests" / "data" / "photos"
TOLERANCE = 1e-4
MAX_UPLOAD_MB = 10


def phone_uploads(folder: Path) -> dict[str, bytes]:
    """The single-digit sample photos as 640x480 JPEG files (written to `folder` for the CLI)."""
    uploads = {}
    for source in sorted(PHOTOS.glob("*.jpg")):
        if not source.name.startswith("number"):
            resized = cv2.resize(cv2.imread(str(source)), (640, 480))
            uploads[source.name] = cv2.imencode(".jpg", resized)[1].tobytes()
            (folder / source.name).write_bytes(uploads[source.name])
    return uploads


def cli_answers(model: str, folder: Path, names: list[str]) -> dict[str, dict]:
    out = folder / "cli.json"
    subprocess.run([sys.executable, "-m", "digits.predict", "--model", model, "--json", str(out),
                    *(str(folder / name) for name in names)], check=True, capture_output=True)
    return {Path(entry["path"]).name: entry for entry in json.loads(out.read_text())}


def multipart(files: list[tuple[str, bytes]], field: str = "file") -> tuple[bytes, str]:
    boundary = "digits-load-boundary"
    parts = [(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
              f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n').encode()
             + data + b"\r\n" for name, data in files]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), \
        f"multipart/form-data; boundary={boundary}"


class Server:
    """`digits-serve` in its own process; `url`, `port`, `rss_mb()`, `stop()`."""

    def __init__(self, model: str, batching: bool):
        command = [sys.executable, "-m", "digits.serve", "--model", model, "--port", "0",
                   "--max-upload-mb", str(MAX_UPLOAD_MB)] + ([] if batching else ["--no-batching"])
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        text=True)
        for line in self.process.stderr:
            if line.startswith("digits-serve: open "):
                self.url = line.split()[2]
                break
        else:
            raise RuntimeError("digits-serve did not start")
        self.port = int(self.url.rstrip("/").rsplit(":", 1)[1])
        # Keep reading its log, so the server never blocks on a full pipe.
        threading.Thread(target=self.process.stderr.read, daemon=True).start()

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) / 1024

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)


class Client:
    """One keep-alive connection to the server, made anew after a failure."""

    def __init__(self, port: int):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(self, path: str, body: bytes, content_type: str) -> tuple[int | str, bytes]:
        """(status, body); a failed exchange gives (the error, b"")."""
        try:
            self.connection.request("POST", path, body, {"Content-Type": content_type})
            response = self.connection.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as error:
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            return repr(error), b""


def in_parallel(port: int, items: list, concurrency: int, work) -> float:
    """`work(client, item)` for every item, from `concurrency` threads with a Client each;
    the seconds it took."""
    lock, pending = threading.Lock(), iter(items)

    def worker():
        client = Client(port)
        while True:
            with lock:
                item = next(pending, None)
            if item is None:
                break
            work(client, item)
        client.connection.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def streamed(port: int, head: bytes, chunks, limit_bytes: int) -> int:
    """Send a request body piece by piece, stopping as soon as the server answers (a refused
    upload is answered before it is all sent); the status."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        sent = 0
        for chunk in chunks:
            if select.select([sock], [], [], 0)[0] or sent > 2 * limit_bytes:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        answer = sock.recv(65536)
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def load(server: Server, uploads: list[tuple[bytes, str]], concurrency: int,
         requests: int) -> dict:
    """`requests` uploads from `concurrency` clients; latencies and errors."""
    latencies, errors, lock = [], [], threading.Lock()

    def upload(client: Client, index: int) -> None:
        body, content_type = uploads[index % len(uploads)]
        start = time.perf_counter()
        status, _ = client.post("/api/predict", body, content_type)
        with lock:
            latencies.append(time.perf_counter() - start)
            if status != 200:
                errors.append(status)
                if len(errors) == 1:
                    print(f"  first error: {status}", file=sys.stderr)

    seconds = in_parallel(server.port, list(range(requests)), concurrency, upload)
    ms = np.array(latencies) * 1000
    return {"rps": requests / seconds, "p50": np.percentile(ms, 50), "p95": np.percentile(ms, 95),
            "p99": np.percentile(ms, 99), "errors": len(errors)}


def png_bomb(side: int = 12_000) -> bytes:
    """A PNG of side x side grey pixels, all zero: small on disk, 144 MB once decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    squeeze = zlib.compressobj(9)
    rows = b"".join(squeeze.compress(bytes(side + 1) * 400) for _ in range(side // 400))
    ihdr = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows + squeeze.flush())
            + chunk(b"IEND", b""))


def bad_requests(good: bytes) -> dict[str, tuple]:
    """Every kind of bad upload: name -> (path, body, content type, the 4xx expected)."""
    blank = cv2.imencode(".png", np.full((300, 400), 230, np.uint8))[1].tobytes()
    tiny = cv2.imencode(".png", np.zeros((8, 8), np.uint8))[1].tobytes()
    kinds = {"empty": ("/api/predict", multipart([("e.jpg", b"")]), 422),
             "not an image": ("/api/predict", multipart([("a.txt", b"hello " * 300)]), 422),
             "truncated": ("/api/predict", multipart([("t.jpg", good[:len(good) // 3])]), 422),
             "bomb": ("/api/predict", multipart([("b.png", png_bomb())]), 413),
             "unknown mode": ("/api/predict?mode=roman", multipart([("g.jpg", good)]), 422),
             "no file": ("/api/predict", multipart([("g.jpg", good)], field="photo"), 422),
             "blank page": ("/api/predict", multipart([("blank.png", blank)]), 200),
             "65 files": ("/api/predict/batch",
                          multipart([(f"{i}.png", tiny) for i in range(65)], "files"), 400)}
    return {name: (path, body, content_type, status)
            for name, (path, (body, content_type), status) in kinds.items()}


def too_large(port: int, chunked: bool) -> int:
    """A file larger than the limit, sent with or without a Content-Length; the status."""
    part_head = multipart([("big.jpg", b"")])[0].split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    pieces = [part_head] + [bytes(256 * 1024)] * ((MAX_UPLOAD_MB + 5) * 4)
    head = (b"POST /api/predict HTTP/1.1\r\nHost: bench\r\n"
            b"Content-Type: multipart/form-data; boundary=digits-load-boundary\r\n")
    if chunked:
        frames = (f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for piece in pieces)
        return streamed(port, head + b"Transfer-Encoding: chunked\r\n\r\n", frames,
                        MAX_UPLOAD_MB << 20)
    size = sum(map(len, pieces))
    return streamed(port, head + f"Content-Length: {size}\r\n\r\n".encode(), pieces,
                    MAX_UPLOAD_MB << 20)


def stream(server: Server, uploads: dict[str, bytes], expected: dict[str, dict],
           total: int, concurrency: int = 8) -> dict:
    """`total` requests, half good photos, half bad ones of every kind, from 8 clients."""
    names = list(uploads)
    bad = bad_requests(uploads[names[0]])
    plan = []
    for index in range(total):
        if index % 2 == 0:
            plan.append(("good", names[(index // 2) % len(names)]))
        else:
            kinds = list(bad) + ["too large", "too large, chunked"]
            plan.append(("bad", kinds[(index // 2) % len(kinds)]))
    results = {"5xx": 0, "wrong status": [], "mismatch": [], "good": 0, "bad": 0}
    lock = threading.Lock()

    def check_good(name: str, status: int, body: bytes) -> str | None:
        if status != 200:
            return f"{name}: status {status}"
        got, want = json.loads(body), expected[name]
        close = all(abs(a - b) <= TOLERANCE for a, b in
                    zip(got["probabilities"] + [got["confidence"]],
                        want["probabilities"] + [want["confidence"]]))
        return None if got["digit"] == want["digit"] and close else f"{name}: {got} vs {want}"

    def send(client: Client, item: tuple[str, str]) -> None:
        kind, name = item
        problem = None
        if name.startswith("too large"):
            status, wanted = too_large(server.port, chunked="chunked" in name), 413
        elif kind == "good":
            status, answer = client.post("/api/predict", *multipart([(name, uploads[name])]))
            wanted, problem = 200, check_good(name, status, answer)
        else:
            path, body, content_type, wanted = bad[name]
            status, _ = client.post(path, body, content_type)
        with lock:
            results[kind] += 1
            results["5xx"] += isinstance(status, int) and status >= 500
            if status != wanted:
                results["wrong status"].append(f"{name}: {status}, expected {wanted}")
            if problem:
                results["mismatch"].append(problem)

    in_parallel(server.port, plan, concurrency, send)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a run folder or a .keras file")
    parser.add_argument("--requests", type=int, default=1000, help="uploads per load run")
    parser.add_argument("--stream", type=int, default=2000, help="uploads in the mixed stream")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="serve_load_"))
    uploads = phone_uploads(folder)
    expected = cli_answers(args.model, folder, list(uploads))
    bodies = [multipart([(name, data)]) for name, data in uploads.items()]

    print(f"{args.requests} uploads of 640x480 JPEGs per run, the client on this machine "
          f"({os.cpu_count()} cores)")
    print(f"{'batching':>8}  {'clients':>7}  {'requests/s':>10}  {'p50 ms':>7}  {'p95 ms':>7}  "
          f"{'p99 ms':>7}  errors")
    for batching in (True, False):
        server = Server(args.model, batching)
        try:
            load(server, bodies, 4, 40)  # warm up: threads, connections, the model's first calls
            for concurrency in args.concurrency:
                r = load(server, bodies, concurrency, args.requests)
                print(f"{'on' if batching else 'off':>8}  {concurrency:>7}  {r['rps']:>10.1f}  "
                      f"{r['p50']:>7.1f}  {r['p95']:>7.1f}  {r['p99']:>7.1f}  {r['errors']}",
                      flush=True)
        finally:
            server.stop()

    server = Server(args.model, batching=True)
    try:
        load(server, bodies, 4, 40)
        before = server.rss_mb()
        result = stream(server, uploads, expected, args.stream)
        after = server.rss_mb()
    finally:
        server.stop()
    print(f"\nmixed stream: {args.stream} uploads ({result['good']} good photos, {result['bad']} "
          f"bad of {len(bad_requests(b'x')) + 2} kinds) from 8 clients")
    print(f"  5xx answers: {result['5xx']}")
    print(f"  answers with another status than expected: {len(result['wrong status'])}")
    for line in result["wrong status"][:10]:
        print(f"    {line}")
    print(f"  good photos whose answer differs from digits-predict's (digit, or confidences "
          f"beyond {TOLERANCE}): {len(result['mismatch'])}")
    for line in result["mismatch"][:10]:
        print(f"    {line}")
    print(f"  server memory (RSS): {before:.0f} MB before, {after:.0f} MB after "
          f"({after - before:+.0f} MB)")
    failed = result["5xx"] or result["wrong status"] or result["mismatch"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
