"""The transform that made MNIST, applied to a photo or scan of a handwritten digit: what predict and serve do to
an image before the model sees it.

Grayscale, inverted when the background is light, faint noise dropped, cropped to the ink, scaled to fit 20x20
keeping the aspect ratio, and placed in a 28x28 frame centred on the ink's centre of mass: a white digit on
black, as the model was trained on. It suits handwriting (dark ink on light paper, or the reverse); a picture of
another kind of dataset needs its own transform. Decoding is bounded: the size is read from the header first.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps

MNIST_FRAME = (28, 28, 1)  # what the transform makes: MNIST's 28x28 grayscale frame
FIT = 20  # MNIST scaled each digit to fit a 20x20 box inside the 28x28 frame
DESPECKLE_FROM = 64  # from this size on both sides, stray specks do not widen the crop (3x3 median filter)
MAX_SIDE = 4096
MAX_PIXELS = MAX_SIDE * MAX_SIDE  # 16.7 megapixels: a 12 MP phone photo fits; a 4-byte decode stays under 70 MB
WORKING_SIDE = 1024  # decoded images are shrunk to this before any other work
HIGH_DEPTH_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")
# Pillow warns (on stderr) about damaged metadata it skips; the image then decodes, or gets its one-line error.
warnings.filterwarnings("ignore", category=UserWarning, module="PIL")
MIN_CONTRAST = 64  # of 255: less between paper and ink, composited on white, and a transparent image is tried on black


class InputError(Exception):
    """One input cannot be classified; the message says why and what to do."""


def border_pixels(image: np.ndarray) -> np.ndarray:
    return np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])


def mnist_normalise(gray: np.ndarray) -> np.ndarray:
    """A grayscale image (H, W), any range, any polarity -> a 28x28 float32 MNIST-style digit in [0, 1]."""
    gray = gray.astype(np.float32)
    if not np.isfinite(gray).all():
        raise InputError("the image holds NaN or infinite values; save it as an 8- or 16-bit image")
    if gray.max() == gray.min():
        raise InputError("the image is empty (no ink); draw or scan a digit")
    gray = (gray - gray.min()) / (gray.max() - gray.min())
    if np.median(border_pixels(gray)) > 0.5:
        gray = 1.0 - gray
    ink = np.clip(gray - np.median(border_pixels(gray)), 0, None)
    if ink.max() < 0.25:
        raise InputError("the image has no ink that stands out from its background; draw or scan a digit")
    ink = ink / ink.max()
    ink[ink < 0.2] = 0.0
    top, bottom, left, right = ink_box(ink)
    ink = ink[top:bottom, left:right]
    scale = FIT / max(ink.shape)
    size = (max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale)))
    fitted = np.asarray(Image.fromarray(ink).resize(size, Image.Resampling.LANCZOS), dtype=np.float32)
    return centre_on_mass(np.clip(fitted, 0, 1))


def ink_box(ink: np.ndarray) -> tuple[int, int, int, int]:
    """The bounding box (top, bottom, left, right; ends exclusive) of the ink. On a large image it is taken
    after a 3x3 median filter, so that a stray speck of scanner noise does not widen it; strokes thinner
    than the filter vanish in it, and then the unfiltered ink sets the box."""
    despeckled = ink
    if min(ink.shape) >= DESPECKLE_FROM:
        despeckled = np.asarray(Image.fromarray(ink).filter(ImageFilter.MedianFilter(3)))
    rows, cols = np.nonzero(despeckled if despeckled.max() > 0 else ink)
    return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1


def centre_on_mass(digit: np.ndarray) -> np.ndarray:
    """Place `digit` (at most 20x20) in a 28x28 frame so that its centre of mass is at the frame's centre."""
    size = MNIST_FRAME[0]
    frame = np.zeros((size, size), np.float32)
    total = digit.sum()
    ys, xs = np.indices(digit.shape)
    if total:
        cy, cx = (ys * digit).sum() / total, (xs * digit).sum() / total
    else:
        cy, cx = digit.shape[0] / 2, digit.shape[1] / 2
    top = int(np.clip(round(size / 2 - cy), 0, size - digit.shape[0]))
    left = int(np.clip(round(size / 2 - cx), 0, size - digit.shape[1]))
    frame[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return frame


def read_image(data: bytes | Path) -> np.ndarray:
    """Decode an image (a path or its bytes) to a grayscale array, upright per its EXIF orientation, at most
    1024 pixels a side. The size is checked from the header, before any pixel is decoded; a malformed file can
    fail anywhere in Pillow's decoders, and each such failure is an InputError."""
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as opened:
            check_pixels(opened)
            return grayscale(shrunk(opened))
    except InputError:
        raise
    except Exception as exc:  # UnidentifiedImageError, OSError, SyntaxError, EOFError, struct.error, ...
        raise InputError(f"not a readable image ({exc.__class__.__name__}); use a PNG, JPEG or BMP file")


def check_pixels(image: Image.Image) -> None:
    """Refuse an image over MAX_PIXELS: decoding takes up to 4 bytes a pixel, and a digit needs far fewer."""
    if image.width * image.height > MAX_PIXELS:
        raise InputError(
            f"the image is too large ({image.width}x{image.height}); scale it to at most "
            f"{MAX_PIXELS // 1_000_000} megapixels ({MAX_SIDE}x{MAX_SIDE})"
        )


def shrunk(image: Image.Image) -> Image.Image:
    """The image decoded at most WORKING_SIDE pixels a side (JPEGs decode straight at a reduced scale), upright.
    16- and 32-bit modes become 32-bit float first: Pillow cannot shrink them, and "L" would clip them."""
    image.draft(None, (WORKING_SIDE, WORKING_SIDE))
    if image.mode in HIGH_DEPTH_MODES:
        image = image.convert("F")
    image.thumbnail((WORKING_SIDE, WORKING_SIDE))
    return ImageOps.exif_transpose(image)


def grayscale(image: Image.Image) -> np.ndarray:
    """Luminance as an array. A transparent background becomes paper: white, unless the ink is light too (a
    white digit on a transparent background), then black."""
    if image.mode == "F":
        return np.asarray(image, dtype=np.float32)
    if not image.has_transparency_data:
        return np.asarray(image.convert("L"))
    rgba = image.convert("RGBA")
    for paper in (255, 0):
        gray = np.asarray(
            Image.alpha_composite(Image.new("RGBA", rgba.size, (paper, paper, paper, 255)), rgba).convert("L")
        )
        if np.ptp(gray) >= MIN_CONTRAST:
            break
    return gray
