"""The IDX format of MNIST's files: reading a gzipped file of unsigned bytes, and checking a split's images
and labels against the dataset's description (params.yaml `dataset`)."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from classifier.dataset import RAW_FILES
from classifier.errors import UserError
from classifier.params.dataset import Dataset

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


def validate(images: np.ndarray, labels: np.ndarray, split: str, d: Dataset) -> None:
    """Check shapes, dtype, label range and that every class occurs."""
    size, classes = d.image_size, d.num_classes
    shape = (size, size) if d.channels == 1 else d.input_shape
    if images.shape[1:] != shape:
        wanted = ", ".join(map(str, shape))
        raise UserError(
            f"{split} images have shape {images.shape}; params.yaml `dataset` expects (N, {wanted}): "
            "fix dataset.image_size or dataset.channels, or the files"
        )
    if labels.ndim != 1:
        raise UserError(f"{split} labels have shape {labels.shape}; expected a 1-D label file")
    if len(images) != len(labels):
        raise UserError(f"{split} has {len(images)} images but {len(labels)} labels; the two files must match")
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise UserError(f"{split} data must be uint8, got {images.dtype} and {labels.dtype}")
    out_of_range = labels[labels >= classes]
    if out_of_range.size:
        raise UserError(
            f"{split} labels must be 0-{classes - 1}, one per name in dataset.classes; found {out_of_range.size} "
            f"out of range (e.g. {int(out_of_range[0])}): name every class in dataset.classes, or fix the label file"
        )
    missing = sorted(set(range(classes)) - set(np.unique(labels).tolist()))
    if missing:
        raise UserError(
            f"{split} labels never contain class {missing[0]} ({d.classes[missing[0]]!r}); every class in "
            "dataset.classes must occur: remove the names of classes the data does not have"
        )


def read_split(split: str, raw_dir: Path, d: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The `train` or `test` split's images (N, H, W[, C]) and labels (N,), both uint8, read and checked."""
    images = read_idx(raw_dir / RAW_FILES[f"{split}_images"])
    labels = read_idx(raw_dir / RAW_FILES[f"{split}_labels"])
    validate(images, labels, split, d)
    return images, labels
