"""Model files for tests: a Keras model exported to ONNX as the export stage does it."""

from pathlib import Path

from classifier import onnx_export


def onnx_file(path: Path, model) -> Path:
    """`model` exported to ONNX at `path`."""
    path.write_bytes(onnx_export.to_onnx(model))
    return path
