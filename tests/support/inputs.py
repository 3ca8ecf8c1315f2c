"""Hypothesis strategies for what users send the predict and serve tools: image files of every common mode and
format from 1x1 to just over the pixel limit, the same files cut short or with bytes flipped, random bytes
(some behind an image format's magic number), and NumPy arrays of any dtype, shape and range."""

import io

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as npst
from PIL import Image

from classifier import image_arrays, transform

MODES = ("1", "L", "I;16", "RGB", "RGBA", "CMYK", "P")
FORMATS = {
    "1": ("PNG", "BMP", "TIFF"),
    "L": ("PNG", "JPEG", "BMP", "TIFF", "GIF", "WEBP"),
    "I;16": ("PNG", "TIFF"),
    "RGB": ("PNG", "JPEG", "BMP", "TIFF", "WEBP"),
    "RGBA": ("PNG", "TIFF", "WEBP"),
    "CMYK": ("JPEG", "TIFF"),
    "P": ("PNG", "GIF", "BMP"),
}
BYTES_PER_PIXEL = {"1": 1 / 8, "L": 1, "I;16": 2, "RGB": 3, "RGBA": 4, "CMYK": 4, "P": 1}
SIDE = transform.MAX_SIDE
# At and just over the limit, and thin strips: drawn as flat paper with a bar (noise would take seconds to encode).
LARGE_SIZES = ((SIDE, SIDE), (SIDE + 1, SIDE), (SIDE * SIDE, 1), (1, 20_000), (SIDE * 2, SIDE))
MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"II*\x00", b"RIFF\x00\x00\x00\x00WEBP", b"P5 ")


@st.composite
def images(draw) -> tuple[str, str, bytes]:
    """(mode, format, encoded bytes) of an image: small ones filled with noise, flat or with a bar; large ones
    flat with a bar. The format is one that can hold the mode."""
    mode = draw(st.sampled_from(MODES))
    large = draw(st.integers(0, 9)) == 0
    size = draw(st.sampled_from(LARGE_SIZES)) if large else (draw(st.integers(1, 64)), draw(st.integers(1, 64)))
    formats = [f for f in FORMATS[mode] if f in ("PNG", "TIFF")][:1] if large else FORMATS[mode]
    fmt = draw(st.sampled_from(formats))
    pattern = "bar" if large else draw(st.sampled_from(("noise", "flat", "bar")))
    image = drawn_image(mode, size, pattern, draw(st.integers(0, 2**32 - 1)))
    out = io.BytesIO()
    image.save(out, format=fmt, **({"compression": "tiff_deflate"} if large and fmt == "TIFF" else {}))
    return mode, fmt, out.getvalue()


def drawn_image(mode: str, size: tuple[int, int], pattern: str, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    if pattern == "noise":
        width, height = size
        row_bytes = (width + 7) // 8 if mode == "1" else width * BYTES_PER_PIXEL[mode]
        image = Image.frombytes(mode, size, rng.bytes(int(row_bytes * height)))
        if mode == "P":
            image.putpalette(list(rng.integers(0, 256, 768)))
        return image
    image = Image.new(mode, size, int(rng.integers(0, 256)) if mode in ("1", "L", "P", "I;16") else None)
    if pattern == "bar":
        width, height = size
        box = (width // 3, height // 5, max(width // 3 + 1, width // 2), max(height // 5 + 1, height * 4 // 5))
        image.paste(Image.new(mode, (box[2] - box[0], box[3] - box[1]), 255 if mode != "I;16" else 65535), box)
    return image


@st.composite
def damaged(draw, files) -> bytes:
    """A file from `files`, cut short or with a few bytes overwritten."""
    data = bytearray(draw(files)[2])
    if draw(st.booleans()):
        return bytes(data[: draw(st.integers(0, len(data)))])
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


def random_bytes() -> st.SearchStrategy[bytes]:
    """Bytes, plain or behind an image format's magic number."""
    return st.one_of(
        st.binary(max_size=2000),
        st.builds(lambda magic, rest: magic + rest, st.sampled_from(MAGIC), st.binary(max_size=2000)),
    )


def any_file() -> st.SearchStrategy[bytes]:
    """What a user may upload as an image: a good image, a damaged one, or random bytes."""
    files = images()
    return st.one_of(files.map(lambda f: f[2]), damaged(files), random_bytes())


def arrays() -> st.SearchStrategy[np.ndarray]:
    """Arrays of any numeric, boolean, string or time dtype; digit-like shapes or any shape up to 4 dimensions;
    any values, NaN and infinities included."""
    dtypes = st.one_of(npst.scalar_dtypes(), npst.unicode_string_dtypes(max_len=3))
    shapes = st.one_of(
        st.sampled_from([(28, 28), (1, 28, 28), (3, 28, 28), (28, 28, 1), (2, 28, 28, 1), (0, 28, 28)]),
        npst.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=30),
    )
    return st.builds(lambda dtype, shape: (dtype, shape), dtypes, shapes).flatmap(lambda ds: npst.arrays(ds[0], ds[1]))


def array_images(path, image_shape=transform.MNIST_FRAME) -> list[np.ndarray]:
    """The images predict reads from a .npy or .npz file, each (H, W, C) float32 in [0, 1]; an InputError if none."""
    return [image for batch in image_arrays.open_array(path, image_shape).batches() for image in batch]
