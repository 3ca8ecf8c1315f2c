"""Loading the saved model, shared by the evaluate stage and the predict and serve tools."""
from __future__ import annotations

import os
from pathlib import Path

from stages import common


def load_model(path: Path):
    """The Keras model saved at `path`, or a PipelineError that names the problem and the fix."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    if not path.is_file():
        raise common.PipelineError(f"model {path} not found; train it with `dvc repro` (or pass another path)")
    try:
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError) as exc:
        raise common.PipelineError(
            f"model {path} is not a readable Keras HDF5 file ({str(exc).splitlines()[0]}); "
            "rebuild it with `dvc repro --force train`"
        )
