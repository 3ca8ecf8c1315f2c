"""The model people run: models/model.onnx in ONNX Runtime, with no TensorFlow or Keras. predict, serve and the
evaluate stage all score through this module, so what is scored is what ships.

The file describes itself: the images it takes (its input's shape) and the class names (its metadata, written by
the export stage). It is checked when it is loaded: it must exist, parse as ONNX, take (N, H, W, C) float32
images and give one probability per named class; anything else is one line naming the problem and the fix.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime

from classifier.errors import UserError, first_line

FIX = "get it with `dvc pull`, or build it with `dvc repro` (or pass another path)"


class Classifier:
    """A loaded ONNX model: call it on (N, H, W, C) float32 images in [0, 1] for their (N, classes) probabilities.
    `image_shape` is (H, W, C) and `class_names` names each output, from the file. Idle worker threads sleep
    instead of spinning, so a server's own threads keep the cores between calls."""

    def __init__(self, path: Path):
        if not path.is_file():
            raise UserError(f"model {path} not found; {FIX}")
        options = onnxruntime.SessionOptions()
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only: ONNX Runtime's warnings are not the user's business
        try:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            names = self.session.get_modelmeta().custom_metadata_map.get("class_names")
            class_names = json.loads(names) if names else None
        except Exception as exc:  # onnxruntime raises its own Fail, InvalidGraph, InvalidProtobuf, ...
            raise UserError(f"model {path} is not a readable ONNX model ({first_line(exc)}); {FIX}")
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        image = tuple(inputs[0].shape[1:]) if len(inputs) == 1 else ()
        given = tuple(outputs[0].shape[1:]) if len(outputs) == 1 else ()
        classes = len(class_names) if isinstance(class_names, list) else given[0] if given else None
        if (
            len(image) != 3
            or not all(isinstance(n, int) for n in image)
            or inputs[0].type != "tensor(float)"
            or given != (classes,)
            or not isinstance(classes, int)
        ):
            raise UserError(
                f"model {path} takes images shaped {image or 'in several inputs'} and gives "
                f"{given or 'several outputs'}{f' for {classes} class names' if class_names else ''}; a model of "
                f"this project takes (N, height, width, channels) float32 images and gives one probability per "
                f"class: {FIX}"
            )
        self.input_name = inputs[0].name
        self.image_shape: tuple[int, int, int] = image
        self.class_names = tuple(map(str, class_names or range(classes)))

    def __call__(self, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """The (N, classes) probabilities of (N, H, W, C) images in [0, 1], `batch_size` at a time."""
        batches = [
            self.session.run(
                None, {self.input_name: np.ascontiguousarray(images[start : start + batch_size], np.float32)}
            )[0]
            for start in range(0, len(images), batch_size)
        ]
        return np.concatenate(batches) if batches else np.empty((0, len(self.class_names)), np.float32)
