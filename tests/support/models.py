"""Model files for tests: a Keras model exported to ONNX as the export stage does it."""

from pathlib import Path

from classifier import onnx_export


def onnx_file(path: Path, model, class_names: list[str] | None = None) -> Path:
    """`model` exported to ONNX at `path`, its classes named `class_names` (default "0", "1", ...)."""
    names = class_names or [str(i) for i in range(model.output_shape[-1])]
    path.write_bytes(onnx_export.to_onnx(model, names))
    return path
