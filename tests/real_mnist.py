"""Test data: the real MNIST when a local copy is at hand (the tests' synthetic data is tools/synthetic.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from stages import common

REAL_MNIST = Path(os.environ.get("MNIST_MIRROR") or common.ROOT.parent / "shared" / "data" / "mnist")
needs_real_mnist = pytest.mark.skipif(
    not (REAL_MNIST / common.RAW_FILES["train_images"]).is_file(),
    reason=f"no local copy of the real MNIST at {REAL_MNIST} (set MNIST_MIRROR to a directory holding it)",
)


def real_mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The real MNIST `train` or `test` images (N, 28, 28) uint8 and labels, from the local copy."""
    from stages import preprocess

    return preprocess.read_raw_split(
        common.RAW_FILES[f"{split}_images"], common.RAW_FILES[f"{split}_labels"], split, REAL_MNIST
    )
