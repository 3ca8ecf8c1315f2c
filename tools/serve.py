"""A local web app for the trained model: draw a digit with the mouse or a finger, see the prediction.

Usage: python -m tools.serve [--host 127.0.0.1] [--port 8000] [--model models/model.onnx]

GET  /             the drawing page: a canvas, the predicted digit, the ten probabilities as bars, Clear.
POST /api/predict  an image as a multipart upload (field `image`) or as JSON {"image": "<base64 or data
                   URL>"}; answers {"digit": d, "confidence": p, "probabilities": [ten floats]}.
A request over 2 MB gets 413; a missing, malformed, empty or too large image gets 400; each with a JSON
`error` (a body over 8 MB is cut off by the server itself, with a plain-text 413).

Served by waitress, a production WSGI server: one worker thread behind one I/O loop, so a slow or stalled
client costs a socket, not a thread, and is disconnected after CLIENT_TIMEOUT_S of silence. The worker
decodes one image at a time, of at most transform.MAX_PIXELS pixels (checked from its header), so memory stays
bounded whatever arrives; the model (models/model.onnx) runs in ONNX Runtime, with no TensorFlow in the process.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import gc
import logging
import socket
import sys
import threading
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default 8000; 0 picks a free one)")
    parser.add_argument("--model", type=Path, default=paths.ONNX_PATH, help="the ONNX model (default %(default)s)")
    args = parser.parse_args(argv)
    sock = listen(args.host, args.port)
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
    print(f"serving on http://{args.host}:{sock.getsockname()[1]}/ (Ctrl+C to stop)", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(errors.run(main))
