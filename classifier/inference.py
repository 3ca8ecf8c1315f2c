"""The saved model at inference: loading it with its checks, and its forward pass in ONNX Runtime. The evaluate
stage, predict, serve and the benchmark all score through this module."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from classifier import dataset
from classifier.errors import UserError

INPUT_SHAPE = (None, *dataset.INPUT_SHAPE)
OUTPUT_SHAPE = (None, dataset.NUM_CLASSES)
REBUILD = "rebuild it with `dvc repro --force train` (or pass another path)"


def load_model(path: Path):
    """The Keras model saved at `path`, checked to be an MNIST classifier ((N, 28, 28, 1) in, (N, 10) out), or
    a UserError that names the problem and the fix. TensorFlow's start-up lines are kept off stderr."""
    if not path.is_file():
        raise UserError(f"model {path} not found; train it with `dvc repro` (or pass another path)")
    with native_stderr_silenced():
        model = read_keras_file(path)
    check_shapes(model, path)
    return model


class Classifier:
    """A model's forward pass at inference, run by ONNX Runtime. At load time each batch normalisation is folded
    into the layer before it (batch_norm_folded), the forward pass `model(x, training=False)` is traced and
    converted to an ONNX graph in memory (tf2onnx), and ONNX Runtime runs that graph on (N, H, W, C) float32
    batches, within 1e-6 of predict()'s probabilities (docs/performance.md has the speed). Nothing is written:
    the graph comes from the .h5 each time, so it cannot drift from it."""

    def __init__(self, model):
        import onnxruntime
        import tensorflow as tf  # already loaded with the model: Keras runs on it
        import tf2onnx

        folded = batch_norm_folded(model)
        forward = tf.function(lambda x: folded(x, training=False))
        with native_stderr_silenced():
            graph, _ = tf2onnx.convert.from_function(
                forward, input_signature=[tf.TensorSpec(INPUT_SHAPE, tf.float32, name="image")], opset=17
            )
        options = onnxruntime.SessionOptions()
        # idle worker threads sleep instead of spinning, so a server's own threads keep the cores between calls
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            graph.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """The (N, 10) probabilities of (N, 28, 28, 1) images in [0, 1], `batch_size` at a time."""
        batches = [
            self.session.run(
                None, {self.input_name: np.ascontiguousarray(images[start : start + batch_size], np.float32)}
            )[0]
            for start in range(0, len(images), batch_size)
        ]
        return np.concatenate(batches) if batches else np.empty((0, dataset.NUM_CLASSES), np.float32)


def batch_norm_folded(model):
    """`model` at inference with each BatchNormalization that follows a Conv2D or Dense layer folded into it: at
    inference a batch normalisation is y = x * scale + shift per channel (scale = gamma / sqrt(variance + epsilon),
    shift = beta - mean * scale), so the layer before it computes the same with its kernel times scale and its
    bias times scale plus shift. A model that is not a Sequential of such layers is returned as it is."""
    import keras

    if not isinstance(model, keras.Sequential):
        return model
    layers = []
    for layer in model.layers:
        before = layers[-1] if layers else None
        if (
            isinstance(layer, keras.layers.BatchNormalization)
            and isinstance(before, (keras.layers.Conv2D, keras.layers.Dense))
            and layer.axis in (-1, len(layer.input.shape) - 1)
        ):
            layers[-1] = folded_layer(before, layer)
        else:
            layers.append(layer)
    return keras.Sequential([keras.Input(shape=model.input_shape[1:]), *layers], name=f"{model.name}_folded")


def folded_layer(layer, norm):
    """A copy of the Conv2D or Dense `layer` with the inference-time batch normalisation `norm` folded in."""
    variance = np.asarray(norm.moving_variance, np.float64)
    scale = (np.asarray(norm.gamma, np.float64) if norm.scale else 1.0) / np.sqrt(variance + norm.epsilon)
    shift = (np.asarray(norm.beta, np.float64) if norm.center else 0.0) - np.asarray(norm.moving_mean) * scale
    kernel = np.asarray(layer.kernel, np.float64)
    bias = np.asarray(layer.bias, np.float64) if layer.use_bias else np.zeros(kernel.shape[-1])
    copy = type(layer).from_config({**layer.get_config(), "use_bias": True})
    copy.build(layer.input.shape)
    copy.set_weights([(kernel * scale).astype(np.float32), (bias * scale + shift).astype(np.float32)])
    return copy


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


def check_shapes(model, path: Path) -> None:
    """Refuse a model that does not take 28x28x1 digits or does not give ten probabilities: it would fail on the
    first image with a long traceback, or answer with the wrong number of classes."""
    try:
        shapes = (tuple(model.input_shape), tuple(model.output_shape))
    except (AttributeError, ValueError, TypeError):  # a subclassed model never built has no shapes
        shapes = ("unknown", "unknown")
    if shapes != (INPUT_SHAPE, OUTPUT_SHAPE):
        raise UserError(
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
        except UserError:
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
