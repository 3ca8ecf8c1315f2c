"""Loading the saved model, shared by the evaluate stage and the predict and serve tools."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from stages import common

INPUT_SHAPE = (None, common.IMAGE_SIZE, common.IMAGE_SIZE, 1)
OUTPUT_SHAPE = (None, common.NUM_CLASSES)
REBUILD = "rebuild it with `dvc repro --force train` (or pass another path)"


def load_model(path: Path):
    """The Keras model saved at `path`, checked to be an MNIST classifier ((N, 28, 28, 1) in, (N, 10) out), or
    a UserError that names the problem and the fix. TensorFlow's start-up lines are kept off stderr."""
    if not path.is_file():
        raise common.UserError(f"model {path} not found; train it with `dvc repro` (or pass another path)")
    with native_stderr_silenced():
        model = read_keras_file(path)
    check_shapes(model, path)
    return model


class Classifier:
    """A model's forward pass, `model(x, training=False)`, traced once into a TensorFlow graph for (N, 28, 28, 1)
    float32 batches: the path the evaluate stage, tools.predict, tools.serve and the benchmark all take. It is
    the .h5's own model, so it gives predict()'s answers; predict() itself builds a dataset and callbacks on
    every call (about 60 ms for one image) and predict_on_batch() dispatches eagerly (bench/results.json has
    the figures of each)."""

    def __init__(self, model):
        import tensorflow as tf  # already loaded with the model: Keras runs on it

        signature = tf.TensorSpec(INPUT_SHAPE, tf.float32)
        self.graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(signature)

    def __call__(self, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """The (N, 10) probabilities of (N, 28, 28, 1) images in [0, 1], `batch_size` at a time."""
        import tensorflow as tf

        batches = [
            self.graph(tf.constant(images[start : start + batch_size], tf.float32)).numpy()
            for start in range(0, len(images), batch_size)
        ]
        return np.concatenate(batches) if batches else np.empty((0, common.NUM_CLASSES), np.float32)


def read_keras_file(path: Path):
    """Import Keras and read `path`; any failure to deserialise the file (not HDF5, no model config, a config
    that is not a model, ...) is a UserError with the first line of Keras's reason."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises whatever its deserialiser hits: ValueError, TypeError, AttributeError...
        raise common.UserError(f"model {path} is not a readable Keras HDF5 file ({first_line(exc)}); {REBUILD}")
    if not isinstance(model, keras.Model):
        raise common.UserError(f"model {path} holds a {type(model).__name__}, not a Keras model; {REBUILD}")
    return model


def check_shapes(model, path: Path) -> None:
    """Refuse a model that does not take 28x28x1 digits or does not give ten probabilities: it would fail on the
    first image with a long traceback, or answer with the wrong number of classes."""
    try:
        shapes = (tuple(model.input_shape), tuple(model.output_shape))
    except (AttributeError, ValueError, TypeError):  # a subclassed model never built has no shapes
        shapes = ("unknown", "unknown")
    if shapes != (INPUT_SHAPE, OUTPUT_SHAPE):
        raise common.UserError(
            f"model {path} takes inputs shaped {shapes[0]} and gives {shapes[1]}; an MNIST classifier takes "
            f"{INPUT_SHAPE} and gives {OUTPUT_SHAPE}: {REBUILD}"
        )


def first_line(exc: Exception, limit: int = 160) -> str:
    """`ClassName: first line of the message`, cut to `limit` characters: Keras messages can run for pages."""
    text = f"{exc.__class__.__name__}: {(str(exc).splitlines() or [''])[0]}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send what is written to file descriptor 2 during the block to a temporary file. TensorFlow's C++ start-up
    lines (absl's "All log messages before absl::InitializeLog()", oneDNN, the CUDA stub, cuInit) are written
    before TF_CPP_MIN_LOG_LEVEL is read, so only this keeps them off the user's terminal. If the block fails
    with anything but a UserError, what was captured is written back, so a crash still explains itself."""
    sys.stderr.flush()
    saved = os.dup(2)
    crashed = False
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except common.UserError:
            raise
        except BaseException:
            crashed = True
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if crashed:
                captured.seek(0)
                os.write(2, captured.read())
