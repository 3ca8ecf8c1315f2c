"""A local web app for the trained model: draw a digit with the mouse or a finger, see the prediction.

Usage: python -m tools.serve [--host 127.0.0.1] [--port 8000] [--model models/model.onnx]
       python -m tools.serve --public 8080 [--model models/model.onnx]

GET  /             the drawing page: a canvas, the predicted digit, the ten probabilities as bars, Clear.
POST /api/predict  an image as a multipart upload (field `image`) or as JSON {"image": "<base64 or data
                   URL>"}; answers {"digit": d, "confidence": p, "probabilities": [ten floats]}.
A request over 2 MB gets 413; a missing, malformed, empty or too large image gets 400; each with a JSON
`error` (a body over 8 MB is cut off by the server itself, with a plain-text 413).

Served by waitress, a production WSGI server: one worker thread behind one I/O loop, so a slow or stalled
client costs a socket, not a thread, and is disconnected after CLIENT_TIMEOUT_S of silence. The worker
decodes one image at a time, of at most transform.MAX_PIXELS pixels (checked from its header), so memory stays
bounded whatever arrives; the model (models/model.onnx) runs in ONNX Runtime, with no TensorFlow in the process.

For other machines, --public PORT puts nginx (Debian's package) in front, on PORT of every interface, with
deploy/nginx.conf: waitress alone closes only silent connections, so clients that trickle their headers would
hold its connections and lock everyone else out; nginx closes a client that has not sent its whole request line
and headers within 3 s, and hands the app complete requests only. nginx stops with this command.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import ctypes
import functools
import gc
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import waitress
from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from classifier import errors, inference, paths, transform
from tools import predict

MAX_BYTES = 2 * 1024 * 1024
THREADS = 1  # worker threads. The work holds the GIL, and waitress reads each request before a worker takes it:
# a second worker only contends for the GIL (on 2 cores it doubled the CPU time per request and cut requests/s
# at 20 clients from about 330 to 170; docs/experiments.md, round 4). One image decoded at a time, too.
CLIENT_TIMEOUT_S = 10  # a connection silent this long (say, stalled mid-headers) is closed
MAX_CONNECTIONS = 250  # open connections at once; more wait in the listen backlog
PAGE = Path(__file__).with_name("static") / "draw.html"
NGINX_CONF = paths.ROOT / "deploy" / "nginx.conf"
NGINX_START_S = 10  # how long nginx may take to listen
try:  # prctl, looked up here, before any thread starts: a child forked from a threaded process may not dlopen
    PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    PRCTL = None


def image_bytes_from_request() -> bytes:
    """The uploaded file's bytes, or the decoded base64 of a JSON body's `image`."""
    if "image" in request.files:
        return request.files["image"].read()
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("image"), str):
        raise transform.InputError('send a multipart file field "image" or JSON {"image": "<base64>"}')
    header, comma, data = body["image"].partition(",")
    if header.startswith("data:") and not comma:
        raise transform.InputError("the data URL holds no data after its comma")
    encoded = data if header.startswith("data:") else body["image"]
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise transform.InputError("the image is not valid base64")


def create_app(forward: inference.Classifier) -> Flask:
    """The app around `forward`, which takes the MNIST-style frames the photo transform makes."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BYTES
    one_at_a_time = threading.Lock()  # one image decoded and classified at a time, whatever WSGI server runs this

    @app.get("/")
    def page():
        return PAGE.read_text(), 200, {"Content-Type": "text/html; charset=utf-8"}

    @app.post("/api/predict")
    def predict_digit():
        try:
            data = image_bytes_from_request()
            with one_at_a_time:
                frame = transform.mnist_normalise(transform.read_image(data))
                probabilities = forward(frame[np.newaxis, ..., np.newaxis])[0]
            result = predict.Prediction("upload", probabilities, forward.class_names).as_dict()
        except transform.InputError as exc:
            return jsonify(error=str(exc)), 400
        return jsonify(
            {
                "class": result["class"],
                "index": result["index"],
                "confidence": result["confidence"],
                "probabilities": result["probabilities"],
                "classes": list(forward.class_names),
            }
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        message = (
            f"request too large: send at most {MAX_BYTES // 1024 // 1024} MB" if exc.code == 413 else exc.description
        )
        return jsonify(error=message), exc.code

    return app


def listen(host: str, port: int) -> socket.socket:
    """Bind before the slow model load, so that a busy port or a wrong host fails at once, in one line."""
    if not 0 <= port <= 65535:
        raise errors.UserError(f"--port must be 0-65535, got {port}")
    try:
        return socket.create_server((host, port))
    except OSError as exc:
        raise errors.UserError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port or --host")


@contextlib.contextmanager
def nginx_in_front(public_port: int, app_port: int) -> Iterator[None]:
    """nginx on `public_port` of every interface, passing requests to the app on 127.0.0.1:`app_port`, with
    deploy/nginx.conf in a temporary prefix; stopped on the way out, and with this process if it dies."""
    nginx = nginx_path()
    if not nginx:
        raise errors.UserError(
            "--public needs nginx, which is not installed; install it (Debian: apt-get install nginx), or serve "
            "this machine only without --public"
        )
    try:  # before nginx, which would retry for seconds; and a client's connection could not tell it failed
        socket.create_server(("0.0.0.0", public_port)).close()
    except OSError as exc:
        raise errors.UserError(
            f"cannot listen on port {public_port} of every interface ({os.strerror(exc.errno)}); "
            "pick another --public port"
        )
    config = NGINX_CONF.read_text()
    for default, ours in (("listen 8080 ", f"listen {public_port} "), ("127.0.0.1:8000;", f"127.0.0.1:{app_port};")):
        if config.count(default) != 1:
            raise errors.UserError(f"{NGINX_CONF} no longer holds `{default.strip()}` once; put it back")
        config = config.replace(default, ours)
    with tempfile.TemporaryDirectory(prefix="serve-nginx-") as prefix:
        Path(prefix).chmod(0o755)  # nginx's workers run as another user when it is started as root
        (Path(prefix) / "temp").mkdir()
        (Path(prefix) / "nginx.conf").write_text(config)
        process = subprocess.Popen(
            [nginx, "-p", prefix, "-e", "stderr", "-c", f"{prefix}/nginx.conf"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=functools.partial(stop_with_parent, os.getpid()),
        )
        try:
            wait_for_port(process, public_port)
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stderr.close()


def nginx_path() -> str | None:
    """nginx's executable: on PATH, or where Debian puts it (/usr/sbin, often not on a user's PATH)."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def stop_with_parent(parent: int) -> None:
    """In the child, between fork and exec: SIGTERM when `parent` dies, however it dies (Linux's
    PR_SET_PDEATHSIG); and no nginx at all if it died already. Only a call to a function looked up beforehand:
    the parent has threads, so the child must not take locks (no dlopen, no allocation)."""
    if PRCTL is not None:
        PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def wait_for_port(process: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + NGINX_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            reason = (process.stderr.read().strip().splitlines() or ["it exited"])[-1]
            raise errors.UserError(
                f"nginx could not start on port {port} ({reason}); if the port is taken, pick another"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            if process.poll() is None:
                return
        time.sleep(0.05)
    process.terminate()
    raise errors.UserError(f"nginx did not listen on port {port} within {NGINX_START_S} s; see `nginx -t`")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default 8000; 0 picks a free one)")
    parser.add_argument(
        "--public",
        type=int,
        metavar="PORT",
        help="serve other machines on PORT through nginx (deploy/nginx.conf); the app itself then listens on a "
        "free port of 127.0.0.1 (--host and --port are not used)",
    )
    parser.add_argument("--model", type=Path, default=paths.ONNX_PATH, help="the ONNX model (default %(default)s)")
    args = parser.parse_args(argv)
    if args.public is not None and not 1 <= args.public <= 65535:
        raise errors.UserError(f"--public must be a port 1-65535, got {args.public}")
    sock = listen("127.0.0.1", 0) if args.public is not None else listen(args.host, args.port)
    forward = inference.Classifier(args.model)
    if forward.image_shape != transform.MNIST_FRAME:
        raise errors.UserError(
            f"model {args.model} takes images shaped {forward.image_shape}; the drawing page and the photo "
            f"transform make {transform.MNIST_FRAME} frames, so serve a model trained on such images"
        )
    app = create_app(forward)
    # The start-up's objects live as long as the server: out of the collector's sight, a full collection takes
    # no stall in the middle of a request.
    gc.freeze()
    server = waitress.create_server(
        app,
        sockets=[sock],
        threads=THREADS,
        channel_timeout=CLIENT_TIMEOUT_S,
        cleanup_interval=1,
        connection_limit=MAX_CONNECTIONS,
        max_request_body_size=4 * MAX_BYTES,
        ident="digits",
    )
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" is expected under load
    app_port = sock.getsockname()[1]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # unwind: nginx stopped, its temporary folder removed
    with nginx_in_front(args.public, app_port) if args.public is not None else contextlib.nullcontext():
        where = f"0.0.0.0:{args.public}/ through nginx" if args.public is not None else f"{args.host}:{app_port}/"
        print(f"serving on http://{where} (Ctrl+C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.run()


if __name__ == "__main__":
    sys.exit(errors.run(main))
