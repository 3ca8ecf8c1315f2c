"""Test data: small MNIST-format files the tests write themselves, and the real MNIST when a local copy is at hand."""
from __future__ import annotations

import gzip
import hashlib
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from stages import common


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """The IDX encoding of a uint8 array: magic (0, 0, type, ndim), big-endian dims, then the data."""
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(idx_bytes(array), mtime=0))
    return path


def digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n 28x28 uint8 images whose class (0-9, every class present) is a bright 8x8 square at a class-specific
    spot on a 4x3 grid, plus noise: easy to learn, yet not learnable by a constant guess."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % common.NUM_CLASSES
    rng.shuffle(labels)
    images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)
    for image, label in zip(images, labels):
        row, col = divmod(int(label), 4)
        image[2 + row * 9: 10 + row * 9, 1 + col * 7: 7 + col * 7] = 255
    return images, labels.astype(np.uint8)


def write_dataset(directory: Path, n_train: int = 200, n_test: int = 60) -> dict[str, str]:
    """Write the four IDX .gz files of a synthetic dataset; return {file name: sha256}."""
    train = digits(n_train, seed=1)
    test = digits(n_test, seed=2)
    arrays = {"train_images": train[0], "train_labels": train[1], "test_images": test[0], "test_labels": test[1]}
    sums = {}
    for role, array in arrays.items():
        path = write_idx(directory / common.RAW_FILES[role], array)
        sums[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return sums


REAL_MNIST = Path(os.environ.get("MNIST_MIRROR") or common.ROOT.parent / "shared" / "data" / "mnist")
needs_real_mnist = pytest.mark.skipif(
    not (REAL_MNIST / common.RAW_FILES["train_images"]).is_file(),
    reason=f"no local copy of the real MNIST at {REAL_MNIST} (set MNIST_MIRROR to a directory holding it)",
)


def real_mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The real MNIST `train` or `test` images (N, 28, 28) uint8 and labels, from the local copy."""
    from stages import preprocess

    return preprocess.read_raw_split(common.RAW_FILES[f"{split}_images"], common.RAW_FILES[f"{split}_labels"],
                                 split, REAL_MNIST)
