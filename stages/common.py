"""What every stage shares: the project's paths and file names, the error a user can fix, and safe writes.

Every output is written through `atomic_path`, so that a failed run never leaves a half-written file where a
good one belongs. The parameters are described in stages/params.py.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PARAMS_PATH = ROOT / "params.yaml"

PARAMS_CHECKED = ROOT / "data" / "params.ok"  # the params stage's mark: params.yaml passed every check
RAW_DIR = ROOT / "data" / "raw"
PROCESSED_DIR = ROOT / "data" / "processed"
MODEL_PATH = ROOT / "models" / "model.h5"
TRAIN_LIVE_DIR = ROOT / "metrics" / "train"  # dvclive's folder: metrics.json and plots/metrics/{train,eval}/*.tsv
TRAIN_METRICS_PATH = TRAIN_LIVE_DIR / "metrics.json"
HISTORY_DIR = TRAIN_LIVE_DIR / "plots" / "metrics"
ENVIRONMENT_PATH = TRAIN_LIVE_DIR / "environment.json"
EVAL_METRICS_PATH = ROOT / "metrics" / "evaluate.json"
PLOTS_DIR = ROOT / "plots"
PREDICTIONS_PATH = PLOTS_DIR / "predictions.csv"
CLASSIFICATION_REPORT_PATH = PLOTS_DIR / "classification_report.csv"
CONFUSION_MATRIX_PNG = PLOTS_DIR / "confusion_matrix.png"
TRAINING_CURVES_PNG = PLOTS_DIR / "training_curves.png"
PER_CLASS_ACCURACY_PNG = PLOTS_DIR / "per_class_accuracy.png"
MISCLASSIFIED_PNG = PLOTS_DIR / "misclassified.png"

RAW_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
STAGES = ("params", "fetch", "preprocess", "train", "evaluate")  # in dvc.yaml's order, each stages/<name>.py
IMAGE_SIZE = 28
NUM_CLASSES = 10


class UserError(Exception):
    """A problem the user can fix; its message names the problem and the fix, on one line."""


def processed_path(split: str) -> Path:
    return PROCESSED_DIR / f"{split}.npz"


def load_processed(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The preprocess stage's images (N, 28, 28, 1) and one-hot labels (N, 10) for `split`."""
    path = processed_path(split)
    try:
        with np.load(path) as data:
            return data["x"], data["y"]
    except FileNotFoundError:
        raise UserError(f"{path} is missing; run the preprocess stage first (`dvc repro preprocess`)")


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


OS_ERROR_FIXES = {
    errno.ENOSPC: "free some disk space and run it again",
    errno.EROFS: "make it writable, or work in a writable clone",
    errno.EACCES: "make it writable, or work in a writable clone",
    errno.EPERM: "make it writable, or work in a writable clone",
}


def os_error_line(exc: OSError) -> str:
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}; {OS_ERROR_FIXES.get(exc.errno, 'check that path and run it again')}"


def run(main: Callable[[], None]) -> int:
    """Run a stage's or a tool's main(): a UserError, or an OSError such as a full disk or a read-only folder,
    becomes one line on stderr and exit code 1."""
    try:
        main()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {os_error_line(exc)}", file=sys.stderr)
        return 1
    return 0
