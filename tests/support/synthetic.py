"""Tiny synthetic MNIST-format data, and a copy of the project that runs on it: what the test suite's DVC
projects and the benchmark's quick mode use, to run every stage in seconds instead of minutes."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import struct
from pathlib import Path

import numpy as np

from classifier import dataset, paths
from classifier.params.dataset import Dataset
from classifier.params.overrides import edit_file

COPIED = ("classifier", "stages", "tools", "maintenance", "dvc.yaml", "params.yaml", ".gitignore")
# Two quick epochs that learn the synthetic digits (test accuracy 1.0 on seeds 1 and 2), in about 3 s
TINY_TRAIN = {
    "train.epochs": 2,
    "train.batch_size": 16,
    "train.learning_rate": 0.01,
    "train.warmup_epochs": 0,
    "train.model.width": 0.25,
}
UNREACHABLE = "http://127.0.0.1:9/unreachable/"
# What the synthetic digits are, as params.yaml's `dataset` would describe them
MNIST = Dataset(name="MNIST", image_size=28, channels=1, classes=[str(digit) for digit in range(10)])


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """The IDX encoding of a uint8 array: magic (0, 0, type, ndim), big-endian dims, then the data."""
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(idx_bytes(array), mtime=0))
    return path


def digits(n: int, seed: int = 0, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """n 28x28 uint8 images whose class (0 to classes - 1, at most 12, every one present) is a bright 8x8 square at
    a class-specific spot on a 4x3 grid, plus noise: easy to learn, yet not learnable by a constant guess."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    rng.shuffle(labels)
    images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)
    for image, label in zip(images, labels, strict=True):
        row, col = divmod(int(label), 4)
        image[2 + row * 9 : 10 + row * 9, 1 + col * 7 : 7 + col * 7] = 255
    return images, labels.astype(np.uint8)


def write_dataset(directory: Path, n_train: int = 200, n_test: int = 60, classes: int = 10) -> dict[str, str]:
    """Write the four IDX .gz files of a synthetic dataset of `classes` classes; return {role: sha256}, as
    params.yaml's fetch.sha256 takes them."""
    train = digits(n_train, seed=1, classes=classes)
    test = digits(n_test, seed=2, classes=classes)
    arrays = {"train_images": train[0], "train_labels": train[1], "test_images": test[0], "test_labels": test[1]}
    sums = {}
    for role, array in arrays.items():
        path = write_idx(directory / dataset.RAW_FILES[role], array)
        sums[role] = hashlib.sha256(path.read_bytes()).hexdigest()
    return sums


def copy_files(root: Path, names: tuple[str, ...] = COPIED) -> None:
    """Copy `names` (files and folders) of this project into `root`."""
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        source = paths.ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, root / name)


def copy_project(root: Path, mirror: Path, names: tuple[str, ...] = COPIED, classes: list[str] = MNIST.classes) -> None:
    """Copy `names` of this project into `root`, write a tiny synthetic dataset of `classes` into `mirror`, and
    point the copy's params at it: its classes and checksums, no reachable public mirror, and a tiny, quick
    training."""
    copy_files(root, names)
    sums = write_dataset(mirror, classes=len(classes))
    edit_file(
        root / "params.yaml",
        {"dataset.classes": classes, "fetch.sha256": sums, "fetch.mirrors": [UNREACHABLE], **TINY_TRAIN},
    )
