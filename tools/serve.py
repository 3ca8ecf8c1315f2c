"""A local web app for the trained model: draw a digit with the mouse or a finger, see the prediction.

Usage: python -m tools.serve [--host 127.0.0.1] [--port 8000] [--model models/model.h5]

GET  /             the drawing page: a canvas, the predicted digit, the ten probabilities as bars, Clear.
POST /api/predict  an image as a multipart upload (field `image`) or as JSON {"image": "<base64 or data
                   URL>"}; answers {"digit": d, "confidence": p, "probabilities": [ten floats]}.
A request over 2 MB gets 413; a missing, malformed or empty image gets 400; each with a JSON `error`.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import socket
import sys
import threading
from pathlib import Path

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import make_server

from stages import common, model_file
from tools import predict

MAX_BYTES = 2 * 1024 * 1024
PAGE = Path(__file__).with_name("static") / "draw.html"


def image_bytes_from_request() -> bytes:
    """The uploaded file's bytes, or the decoded base64 of a JSON body's `image`."""
    if "image" in request.files:
        return request.files["image"].read()
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("image"), str):
        raise predict.InputError('send a multipart file field "image" or JSON {"image": "<base64>"}')
    header, comma, data = body["image"].partition(",")
    if header.startswith("data:") and not comma:
        raise predict.InputError("the data URL holds no data after its comma")
    encoded = data if header.startswith("data:") else body["image"]
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise predict.InputError("the image is not valid base64")


def create_app(model) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BYTES
    model_lock = threading.Lock()  # one prediction at a time: Keras models are not built for concurrent calls

    @app.get("/")
    def page():
        return PAGE.read_text(), 200, {"Content-Type": "text/html; charset=utf-8"}

    @app.post("/api/predict")
    def predict_digit():
        try:
            digit = predict.mnist_normalise(predict.read_image(image_bytes_from_request()))
        except predict.InputError as exc:
            return jsonify(error=str(exc)), 400
        with model_lock:
            result = predict.predict(model, [("upload", digit)], batch_size=1)[0].as_dict()
        return jsonify(digit=result["digit"], confidence=result["confidence"],
                       probabilities=result["probabilities"])

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        message = f"request too large: send at most {MAX_BYTES // 1024 // 1024} MB" if exc.code == 413 \
            else exc.description
        return jsonify(error=message), exc.code

    return app


def listen(host: str, port: int) -> socket.socket:
    """Bind before the slow model load, so that a busy port or a wrong host fails at once, in one line."""
    if not 0 <= port <= 65535:
        raise common.PipelineError(f"--port must be 0-65535, got {port}")
    try:
        return socket.create_server((host, port))
    except OSError as exc:
        raise common.PipelineError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port or --host")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default 8000; 0 picks a free one)")
    parser.add_argument("--model", type=Path, default=common.MODEL_PATH)
    args = parser.parse_args(argv)
    sock = listen(args.host, args.port)
    app = create_app(model_file.load_model(args.model))
    port = sock.getsockname()[1]
    server = make_server(args.host, port, app, threaded=True, fd=sock.fileno())
    print(f"serving on http://{args.host}:{port}/ (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(common.run(main))
