"""The saved Keras model (models/model.h5): loading it with its checks. The export stage reads it to write the ONNX
file; the evaluate stage reads it to check that the ONNX file gives the same probabilities."""

from __future__ import annotations

import os
from pathlib import Path

from classifier.errors import UserError, first_line, native_stderr_silenced
from classifier.params.dataset import Dataset

REBUILD = "rebuild it with `dvc repro --force train` (or pass another path)"


def load_model(path: Path, d: Dataset):
    """The Keras model saved at `path`, checked to be a classifier of the images params.yaml `dataset` describes
    ((N, H, W, C) in, (N, classes) out), or a UserError that names the problem and the fix. TensorFlow's
    start-up lines are kept off stderr."""
    if not path.is_file():
        raise UserError(f"model {path} not found; train it with `dvc repro` (or pass another path)")
    with native_stderr_silenced():
        model = read_keras_file(path)
    check_shapes(model, path, d)
    return model


def read_keras_file(path: Path):
    """Import Keras and read `path`; any failure to deserialise the file (not HDF5, no model config, a config
    that is not a model, ...) is a UserError with the first line of Keras's reason."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises whatever its deserialiser hits: ValueError, TypeError, AttributeError...
        raise UserError(f"model {path} is not a readable Keras HDF5 file ({first_line(exc)}); {REBUILD}")
    if not isinstance(model, keras.Model):
        raise UserError(f"model {path} holds a {type(model).__name__}, not a Keras model; {REBUILD}")
    return model


def check_shapes(model, path: Path, d: Dataset) -> None:
    """Refuse a model that does not take the dataset's images or does not give one probability per class: it would
    fail on the first image with a long traceback, or answer with the wrong number of classes."""
    try:
        shapes = (tuple(model.input_shape), tuple(model.output_shape))
    except (AttributeError, ValueError, TypeError):  # a subclassed model never built has no shapes
        shapes = ("unknown", "unknown")
    wanted = ((None, *d.input_shape), (None, d.num_classes))
    if shapes != wanted:
        raise UserError(
            f"model {path} takes inputs shaped {shapes[0]} and gives {shapes[1]}; a classifier of params.yaml's "
            f"dataset ({d.name}) takes {wanted[0]} and gives {wanted[1]}: {REBUILD}"
        )
