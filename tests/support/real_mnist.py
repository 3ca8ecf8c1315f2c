"""Test data: the real MNIST when a local copy is at hand (the tests' synthetic data is tests/support/synthetic.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from classifier import dataset, idx, paths
from tests.support.synthetic import MNIST

REAL_MNIST = Path(os.environ.get("MNIST_MIRROR") or paths.ROOT.parent / "shared" / "data" / "mnist")
needs_real_mnist = pytest.mark.skipif(
    not (REAL_MNIST / dataset.RAW_FILES["train_images"]).is_file(),
    reason=f"no local copy of the real MNIST at {REAL_MNIST} (set MNIST_MIRROR to a directory holding it)",
)


def real_mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The real MNIST `train` or `test` images (N, 28, 28) uint8 and labels, from the local copy."""

    return idx.read_split(split, REAL_MNIST, MNIST)
