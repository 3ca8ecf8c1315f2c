"""Safe writes (a failed run never leaves a half-written file where a good one belongs) and the processed arrays."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from classifier import paths
from classifier.errors import UserError


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix); move it into place only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        if exc.filename is None:  # a failed write (a full disk) names no file: name the output
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_processed(split: str, x: np.ndarray, y: np.ndarray) -> Path:
    """Write data/processed/<split>.npz: images x and one-hot labels y."""
    path = paths.processed_path(split)
    with atomic_path(path) as tmp:
        np.savez(tmp, x=x, y=y)
    return path


def load_processed(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The preprocess stage's images (N, H, W, C) and one-hot labels (N, classes) for `split`."""
    path = paths.processed_path(split)
    try:
        with np.load(path) as data:
            return data["x"], data["y"]
    except FileNotFoundError:
        raise UserError(f"{path} is missing; run the preprocess stage first (`dvc repro preprocess`)")
