"""What every stage shares: the project's paths, reading and checking params.yaml, and safe writes.

A stage reads its own section of params.yaml through `load_section`, takes each value through a typed
getter that names the parameter and the fix when the value is wrong, and writes every output through
`atomic_path`, so that a failed run never leaves a half-written file where a good one belongs.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
PARAMS_PATH = ROOT / "params.yaml"

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

RAW_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
IMAGE_SIZE = 28
NUM_CLASSES = 10


class PipelineError(Exception):
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
        raise PipelineError(f"{path} is missing; run the preprocess stage first (`dvc repro preprocess`)")


class Section:
    """One section of params.yaml, read through getters that check each value's type and range."""

    def __init__(self, name: str, values: dict[str, Any]):
        self.name = name
        self.values = values
        self.read: set[str] = set()

    def _get(self, key: str) -> Any:
        self.read.add(key)
        node: Any = self.values
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise PipelineError(f"params.yaml: {self.name}.{key} is missing; add it to params.yaml")
            node = node[part]
        return node

    def _bad(self, key: str, expected: str, value: Any) -> PipelineError:
        return PipelineError(
            f"params.yaml: {self.name}.{key} must be {expected}, got {value!r}; "
            f"fix it in params.yaml or with `dvc exp run -S {self.name}.{key}=...`"
        )

    def int(self, key: str, lo: int | None = None, hi: int | None = None) -> int:
        value = self._get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not _within(value, lo, hi):
            raise self._bad(key, "an integer" + _range_text(lo, hi), value)
        return value

    def float(self, key: str, lo: float | None = None, hi: float | None = None,
              lo_open: bool = False, hi_open: bool = False) -> float:
        value = self._get(key)
        if (not isinstance(value, (int, float)) or isinstance(value, bool)
                or not _within(value, lo, hi, lo_open, hi_open)):
            raise self._bad(key, "a number" + _range_text(lo, hi, lo_open, hi_open), value)
        return float(value)

    def bool(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            raise self._bad(key, "true or false", value)
        return value

    def choice(self, key: str, options: tuple[str, ...]) -> str:
        value = self._get(key)
        if value not in options:
            raise self._bad(key, "one of " + ", ".join(options), value)
        return value

    def int_list(self, key: str, lo: int = 1, allow_empty: bool = False) -> list[int]:
        value = self._get(key)
        ok = isinstance(value, list) and (allow_empty or value)
        ok = ok and all(isinstance(v, int) and not isinstance(v, bool) and v >= lo for v in value)
        if not ok:
            raise self._bad(key, f"a {'' if allow_empty else 'non-empty '}list of integers >= {lo}", value)
        return list(value)

    def sections(self, key: str) -> list[Section]:
        """A non-empty list of mappings, each read through its own Section, named like `train.model.conv_blocks.0`
        (the form `dvc exp run -S` takes)."""
        value = self._get(key)
        if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
            raise self._bad(key, "a non-empty list of mappings", value)
        return [Section(f"{self.name}.{key}.{i}", v) for i, v in enumerate(value)]

    def str_list(self, key: str) -> list[str]:
        value = self._get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self._bad(key, "a list of strings", value)
        return list(value)

    def mapping(self, key: str) -> dict[str, Any]:
        value = self._get(key)
        if not isinstance(value, dict):
            raise self._bad(key, "a mapping", value)
        return value

    def check_no_unknown(self) -> None:
        """Reject keys nobody reads: a typo such as `learning_rat` or `model.widht` must not pass silently."""
        unknown = [key for key in _leaf_keys(self.values)
                   if not any(key == read or key.startswith(read + ".") for read in self.read)]
        if unknown:
            raise PipelineError(
                f"params.yaml: unknown parameter {self.name}.{unknown[0]}; "
                f"known ones are {', '.join(sorted(self.read))}"
            )


def _leaf_keys(node: dict, prefix: str = "") -> Iterator[str]:
    for key, value in node.items():
        if isinstance(value, dict) and value:
            yield from _leaf_keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def _within(value: float, lo: float | None, hi: float | None,
            lo_open: bool = False, hi_open: bool = False) -> bool:
    above = lo is None or value > lo or (value == lo and not lo_open)
    below = hi is None or value < hi or (value == hi and not hi_open)
    return above and below


def _range_text(lo: float | None, hi: float | None, lo_open: bool = False, hi_open: bool = False) -> str:
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {lo}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {hi}")
    return " " + " and ".join(parts) if parts else ""


def load_section(name: str, path: Path | None = None) -> Section:
    """Read one top-level section of params.yaml (or of `path`)."""
    path = path or PARAMS_PATH
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise PipelineError(f"{path} not found; run the stage from the project root, which holds params.yaml")
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise PipelineError(f"{path} is not valid YAML{line}; fix its syntax")
    if not isinstance(data, dict) or not isinstance(data.get(name), dict):
        raise PipelineError(f"params.yaml has no `{name}:` section; restore it from git (git checkout params.yaml)")
    return Section(name, data[name])


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix); move it into place only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def run(main: Callable[[], None]) -> int:
    """Run a stage's main(); a PipelineError becomes one line on stderr and exit code 1."""
    try:
        main()
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
