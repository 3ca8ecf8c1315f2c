"""The IDX format of MNIST's files: reading a gzipped file of unsigned bytes, and checking a split's images
and labels against the dataset's description."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from classifier import dataset
from classifier.errors import UserError

UNSIGNED_BYTE = 0x08


def read_idx(path: Path) -> np.ndarray:
    """Parse a gzipped IDX file of unsigned bytes, checking its magic number, dimensions and size."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise UserError(f"{path} is missing; run the fetch stage first (`dvc repro fetch`)")
    except (OSError, EOFError, zlib.error) as exc:
        raise UserError(f"{path} is not a readable gzip file ({exc}); delete it and fetch it again")
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise UserError(f"{path} is not an IDX file (bad magic number); fetch the original file again")
    if data[2] != UNSIGNED_BYTE:
        raise UserError(f"{path} holds IDX element type 0x{data[2]:02x}; only unsigned bytes (0x08) are supported")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise UserError(f"{path} has a truncated IDX header; fetch the original file again")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(dims))
    if len(data) - header != expected:
        raise UserError(
            f"{path} holds {len(data) - header} bytes of data but its header {dims} promises {expected}; "
            "the file is truncated or corrupt, fetch it again"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def validate(images: np.ndarray, labels: np.ndarray, split: str) -> None:
    """Check shapes, dtype, label range and that every class occurs."""
    size, classes = dataset.IMAGE_SIZE, dataset.NUM_CLASSES
    if images.ndim != 3 or images.shape[1:] != (size, size):
        raise UserError(f"{split} images have shape {images.shape}; expected (N, {size}, {size}) 8-bit images")
    if labels.ndim != 1:
        raise UserError(f"{split} labels have shape {labels.shape}; expected a 1-D label file")
    if len(images) != len(labels):
        raise UserError(f"{split} has {len(images)} images but {len(labels)} labels; the two files must match")
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise UserError(f"{split} data must be uint8, got {images.dtype} and {labels.dtype}")
    out_of_range = labels[labels >= classes]
    if out_of_range.size:
        raise UserError(
            f"{split} labels must be 0-{classes - 1}; found {out_of_range.size} out of range "
            f"(e.g. {int(out_of_range[0])}); the label file is wrong for this dataset"
        )
    missing = sorted(set(range(classes)) - set(np.unique(labels).tolist()))
    if missing:
        raise UserError(f"{split} labels never contain class {missing[0]}; every class 0-{classes - 1} must occur")


def read_split(images_file: str, labels_file: str, split: str, raw_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """A split's images (N, H, W) and labels (N,), both uint8, read and checked."""
    images = read_idx(raw_dir / images_file)
    labels = read_idx(raw_dir / labels_file)
    validate(images, labels, split)
    return images, labels
