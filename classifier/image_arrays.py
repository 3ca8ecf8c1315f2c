"""Stacks of images in .npy and .npz files, read in bounded memory whatever their size: what predict takes
besides photos.

The header is read first (inside the zip for an .npz): the shape and type it declares are checked against the
model's images and a size budget, and the bytes on disk (or the zip's unpacked size) against what the header
promises, before any data is read. The data is then streamed twice, at most CHUNK_BYTES at a time: once to check
the values (finite; the scale 0-1 or 0-255, decided for the whole array) and once to hand out the images. A
compressed bomb or a lying header is refused in one line; a large honest array takes the memory of one chunk.
An array stored in Fortran order (a transposed one) cannot be streamed image by image: up to one chunk, it is
read whole.
"""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from classifier.transform import InputError

MAX_GB = 2.0  # the default budget of one array, unpacked: 1 GB of digits passes, a 4 GB zip bomb does not
CHUNK_BYTES = 16 * 2**20  # read at a time: 5,349 images of 28x28 float32
SAVE_FIX = "save it again with numpy.save"


@dataclass
class ImageArray:
    """An array file of `count` images shaped (H, W, C), checked, ready to stream as float32 in [0, 1]."""

    path: Path
    member: str | None  # the array's name inside an .npz
    dtype: np.dtype
    count: int
    image_shape: tuple[int, int, int]
    data_offset: int  # where the data starts in the (unpacked) .npy
    shape: tuple[int, ...] = ()  # as stored
    fortran_order: bool = False
    scale: float = 1.0

    @property
    def image_bytes(self) -> int:
        return self.dtype.itemsize * int(np.prod(self.image_shape))

    def batches(self, size: int | None = None) -> Iterator[np.ndarray]:
        """The images, `size` at a time (at most CHUNK_BYTES' worth), as (n, H, W, C) float32 in [0, 1]."""
        for raw in self.raw_batches(size):
            yield raw.astype(np.float32) / np.float32(self.scale)

    def raw_batches(self, size: int | None = None) -> Iterator[np.ndarray]:
        """The images as stored, `size` at a time (at most CHUNK_BYTES' worth), (n, H, W, C) in their dtype."""
        size = min(size or self.count, max(1, CHUNK_BYTES // self.image_bytes))
        with self.opened() as stream:
            stream.read(self.data_offset)
            if self.fortran_order:  # at most one chunk (open_array checks it): read whole, made C-ordered
                whole = np.frombuffer(self.read(stream, 0, self.count), self.dtype).reshape(self.shape, order="F")
                whole = np.ascontiguousarray(whole).reshape(self.count, *self.image_shape)
                yield from (whole[start : start + size] for start in range(0, self.count, size))
            else:
                for start in range(0, self.count, size):
                    n = min(size, self.count - start)
                    yield np.frombuffer(self.read(stream, start, n), self.dtype).reshape(n, *self.image_shape)
            if stream.read(1):  # also makes zipfile check the member's CRC, which it does at the end
                raise InputError(f"the file holds more data than its header declares; {SAVE_FIX}")

    def read(self, stream: BinaryIO, start: int, n: int) -> bytes:
        """The bytes of images `start` to `start + n`, read from where the stream is."""
        data = stream.read(n * self.image_bytes)
        if len(data) != n * self.image_bytes:
            raise InputError(f"the file ends inside image {start + len(data) // self.image_bytes}: {self.cut()}")
        return data

    def cut(self) -> str:
        return f"it holds fewer than the {self.count} images its header declares (cut short?); {SAVE_FIX}"

    @contextlib.contextmanager
    def opened(self) -> Iterator[BinaryIO]:
        """The .npy's bytes from the start of its header: the file itself, or the .npz's member unpacked."""
        try:
            if self.member is None:
                with self.path.open("rb") as stream:
                    yield stream
            else:
                with zipfile.ZipFile(self.path) as archive, archive.open(self.member) as stream:
                    yield stream
        except InputError:
            raise
        except Exception as exc:  # zipfile's BadZipFile (a bad CRC), zlib.error, EOFError, an encrypted member, ...
            raise InputError(f"the data cannot be read ({exc.__class__.__name__}); {SAVE_FIX}")


def open_array(path: Path, image_shape: tuple[int, int, int], max_gb: float = MAX_GB) -> ImageArray:
    """The array in a .npy, or the one array in an .npz, checked from its header against `image_shape` (one image
    or a stack; the channel axis optional when C is 1) and `max_gb` unpacked, then by one pass over its values."""
    member, declared_size = archive_member(path) if path.suffix.lower() == ".npz" else (None, path.stat().st_size)
    array = ImageArray(path, member, np.dtype(np.uint8), 0, image_shape, 0)
    with array.opened() as stream:
        shape, fortran_order, dtype = header(stream)
        array.data_offset = stream.tell()
    array.dtype, array.shape, array.fortran_order = dtype, shape, fortran_order
    array.count = image_count(shape, image_shape)
    data_bytes = array.count * array.image_bytes
    if fortran_order and data_bytes > CHUNK_BYTES:
        raise InputError(
            f"the array is stored in Fortran order and holds {data_bytes / 2**20:.0f} MB, more than can be read "
            f"whole ({CHUNK_BYTES // 2**20} MB); save numpy.ascontiguousarray(images) with numpy.save"
        )
    if data_bytes > max_gb * 1e9:
        raise InputError(
            f"the array holds {array.count:,} images of {dtype}, {data_bytes / 1e9:.2f} GB unpacked, over the "
            f"{max_gb:g} GB limit; split it into smaller files, or raise the limit with --max-array-gb"
        )
    if declared_size != array.data_offset + data_bytes:
        raise InputError(
            f"its header declares {data_bytes:,} bytes of data and the file holds "
            f"{declared_size - array.data_offset:,}: damaged or cut short; {SAVE_FIX}"
        )
    array.scale = value_scale(array)
    return array


def archive_member(path: Path) -> tuple[str, int]:
    """The name of the one array in an .npz, and the unpacked size the zip's directory gives it."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
    except Exception as exc:  # zipfile raises BadZipFile, OSError, ValueError, EOFError, ...
        raise InputError(f"not a readable NumPy array of numbers ({exc.__class__.__name__}); {SAVE_FIX}")
    if len(members) != 1:
        names = f" ({', '.join(m.filename.removesuffix('.npy') for m in members)})" if members else ""
        raise InputError(
            f"the .npz holds {len(members)} arrays{names}, not one; save the images alone "
            "with numpy.save or numpy.savez(path, images)"
        )
    return members[0].filename, members[0].file_size


def header(stream: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, Fortran order, dtype) from an .npy header, refusing pickles and anything but numbers."""
    try:
        version = np.lib.format.read_magic(stream)
        read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}[version]
        shape, fortran_order, dtype = read(stream)
    except Exception as exc:  # numpy's parsers raise ValueError, KeyError, SyntaxError, ...
        raise InputError(f"not a readable NumPy array of numbers ({exc.__class__.__name__}); {SAVE_FIX}")
    if dtype.kind not in "biuf" or dtype.hasobject:
        raise InputError(
            f"not a readable NumPy array of numbers (it holds {dtype} values); save real numbers with numpy.save"
        )
    return shape, fortran_order, dtype


def image_count(shape: tuple[int, ...], image_shape: tuple[int, int, int]) -> int:
    """How many images an array of `shape` holds: one (H, W, C) image or a stack of N, the channel axis optional
    when C is 1."""
    height, width, channels = image_shape
    if any(n < 0 for n in shape):
        raise InputError(f"array has shape {shape}: a negative size; {SAVE_FIX}")
    stack = shape[:-2] if channels == 1 and len(shape) in (2, 3) and shape[-2:] == (height, width) else shape[:-3]
    if len(stack) > 1 or shape[len(stack) :] not in (image_shape, image_shape[:2] if channels == 1 else None):
        one = f"({height}, {width})" if channels == 1 else f"({height}, {width}, {channels})"
        raise InputError(f"array has shape {shape}; the model takes {one} images, one or a stack of N")
    count = stack[0] if stack else 1
    if not count:
        raise InputError(f"array has shape {shape}: no images in it")
    return count


def value_scale(array: ImageArray) -> float:
    """255 or 1: what the whole array's values are divided by, after one streamed pass that refuses NaN,
    infinities and values outside both scales (they gave 100% confidence to anything)."""
    low, high = np.inf, -np.inf
    for raw in array.raw_batches():
        if raw.dtype.kind == "f" and not np.isfinite(raw).all():
            raise InputError("array holds NaN or infinite values")
        low, high = min(low, raw.min()), max(high, raw.max())
    if low < 0 or high > 255:
        raise InputError(
            f"array values span [{low:g}, {high:g}]; expected 0-1 or 0-255, as in the dataset (white digit on black)"
        )
    return 255.0 if high > 1 else 1.0
