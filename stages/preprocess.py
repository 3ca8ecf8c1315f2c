"""Preprocess stage: parse and validate the raw IDX files and write model-ready arrays.

Reads: data/raw/*.gz (the four IDX files) and params.yaml `preprocess` (val_fraction, seed).
Writes: data/processed/{train,val,test}.npz, each holding x, float32 (N, 28, 28, 1) scaled to [0, 1], and
        y, float32 one-hot (N, 10). val is a stratified split of the training set; test is the untouched
        MNIST test set, used only by the evaluate stage.
"""

from __future__ import annotations

import gzip
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from stages import common, params

UNSIGNED_BYTE = 0x08


def read_idx(path: Path) -> np.ndarray:
    """Parse a gzipped IDX file of unsigned bytes, checking its magic number, dimensions and size."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise common.UserError(f"{path} is missing; run the fetch stage first (`dvc repro fetch`)")
    except (OSError, EOFError, zlib.error) as exc:
        raise common.UserError(f"{path} is not a readable gzip file ({exc}); delete it and fetch it again")
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise common.UserError(f"{path} is not an IDX file (bad magic number); fetch the original file again")
    if data[2] != UNSIGNED_BYTE:
        raise common.UserError(
            f"{path} holds IDX element type 0x{data[2]:02x}; only unsigned bytes (0x08) are supported"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise common.UserError(f"{path} has a truncated IDX header; fetch the original file again")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(dims))
    if len(data) - header != expected:
        raise common.UserError(
            f"{path} holds {len(data) - header} bytes of data but its header {dims} promises {expected}; "
            "the file is truncated or corrupt, fetch it again"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def validate(images: np.ndarray, labels: np.ndarray, split: str) -> None:
    """Check shapes, dtype, label range and that every class occurs."""
    size = common.IMAGE_SIZE
    if images.ndim != 3 or images.shape[1:] != (size, size):
        raise common.UserError(f"{split} images have shape {images.shape}; expected (N, {size}, {size}) 8-bit images")
    if labels.ndim != 1:
        raise common.UserError(f"{split} labels have shape {labels.shape}; expected a 1-D label file")
    if len(images) != len(labels):
        raise common.UserError(f"{split} has {len(images)} images but {len(labels)} labels; the two files must match")
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise common.UserError(f"{split} data must be uint8, got {images.dtype} and {labels.dtype}")
    out_of_range = labels[labels >= common.NUM_CLASSES]
    if out_of_range.size:
        raise common.UserError(
            f"{split} labels must be 0-{common.NUM_CLASSES - 1}; found {out_of_range.size} out of range "
            f"(e.g. {int(out_of_range[0])}); the label file is wrong for this dataset"
        )
    missing = sorted(set(range(common.NUM_CLASSES)) - set(np.unique(labels).tolist()))
    if missing:
        raise common.UserError(
            f"{split} labels never contain class {missing[0]}; every class 0-{common.NUM_CLASSES - 1} must occur"
        )


def read_raw_split(images_file: str, labels_file: str, split: str, raw_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(raw_dir / images_file)
    labels = read_idx(raw_dir / labels_file)
    validate(images, labels, split)
    return images, labels


def to_model_inputs(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 28, 28) uint8 and (N,) labels -> (N, 28, 28, 1) float32 in [0, 1] and (N, 10) one-hot."""
    x = (images.astype(np.float32) / 255.0)[..., np.newaxis]
    y = np.eye(common.NUM_CLASSES, dtype=np.float32)[labels]
    return x, y


def split_validation(images: np.ndarray, labels: np.ndarray, val_fraction: float, seed: int):
    """Stratified split of the training set: (train_images, train_labels, val_images, val_labels)."""
    try:
        train_x, val_x, train_y, val_y = train_test_split(
            images, labels, test_size=val_fraction, stratify=labels, random_state=seed
        )
    except ValueError as exc:
        raise common.UserError(
            f"cannot split {len(labels)} training images with val_fraction={val_fraction} ({exc}); "
            "raise preprocess.val_fraction or use more data"
        )
    return train_x, train_y, val_x, val_y


def save_split(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    x, y = to_model_inputs(images, labels)
    with common.atomic_path(path) as tmp:
        np.savez(tmp, x=x, y=y)


def main() -> None:
    p = params.load(params.Preprocess)
    files = common.RAW_FILES
    train_images, train_labels = read_raw_split(files["train_images"], files["train_labels"], "train", common.RAW_DIR)
    test_images, test_labels = read_raw_split(files["test_images"], files["test_labels"], "test", common.RAW_DIR)
    train_x, train_y, val_x, val_y = split_validation(train_images, train_labels, p.val_fraction, p.seed)
    outputs = {"train": (train_x, train_y), "val": (val_x, val_y), "test": (test_images, test_labels)}
    for split, (images, labels) in outputs.items():
        save_split(common.processed_path(split), images, labels)
        print(f"{split}: {len(labels)} images -> {common.processed_path(split).relative_to(common.ROOT)}")


if __name__ == "__main__":
    sys.exit(common.run(main))
