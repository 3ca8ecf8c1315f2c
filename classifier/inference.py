"""The model people run: models/model.onnx in ONNX Runtime, with no TensorFlow or Keras. predict, serve and the
evaluate stage all score through this module, so what is scored is what ships.

The file is checked when it is loaded: it must exist, parse as ONNX, and take (N, H, W, C) float32 images and
give one probability per class; anything else is one line naming the problem and the fix.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime

from classifier import dataset
from classifier.errors import UserError, first_line

FIX = "get it with `dvc pull`, or build it with `dvc repro` (or pass another path)"


class Classifier:
    """A loaded ONNX model: call it on (N, H, W, C) float32 images in [0, 1] for their (N, classes) probabilities.
    Idle worker threads sleep instead of spinning, so a server's own threads keep the cores between calls."""

    def __init__(self, path: Path):
        if not path.is_file():
            raise UserError(f"model {path} not found; {FIX}")
        options = onnxruntime.SessionOptions()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only: ONNX Runtime's warnings are not the user's business
        try:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail, InvalidGraph, InvalidProtobuf, ...
            raise UserError(f"model {path} is not a readable ONNX model ({first_line(exc)}); {FIX}")
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        shapes = (
            tuple(inputs[0].shape[1:]) if len(inputs) == 1 else "several inputs",
            tuple(outputs[0].shape[1:]) if len(outputs) == 1 else "several outputs",
        )
        wanted = (dataset.INPUT_SHAPE, (dataset.NUM_CLASSES,))
        if shapes != wanted or inputs[0].type != "tensor(float)":
            raise UserError(
                f"model {path} takes images shaped {shapes[0]} and gives {shapes[1]}; this project's model takes "
                f"(N, {', '.join(map(str, wanted[0]))}) float32 and gives (N, {wanted[1][0]}): {FIX}"
            )
        self.input_name = inputs[0].name
        names = self.session.get_modelmeta().custom_metadata_map.get("class_names")
        self.class_names = tuple(json.loads(names)) if names else dataset.CLASS_NAMES

    def __call__(self, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """The (N, classes) probabilities of (N, H, W, C) images in [0, 1], `batch_size` at a time."""
        batches = [
            self.session.run(
                None, {self.input_name: np.ascontiguousarray(images[start : start + batch_size], np.float32)}
            )[0]
            for start in range(0, len(images), batch_size)
        ]
        return np.concatenate(batches) if batches else np.empty((0, dataset.NUM_CLASSES), np.float32)
