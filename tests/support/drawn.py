"""Digit images drawn for the predict and serve tests: no MNIST needed."""

import io

import numpy as np
from PIL import Image, ImageFilter


def a_seven(soft: bool = False) -> np.ndarray:
    """A "7", white ink on black, 8 bits, 120x120; with `soft`, grey edges as a pen or a scan gives."""
    image = np.zeros((120, 120), np.uint8)
    image[20:30, 25:95] = 255
    for row in range(30, 105):
        col = 95 - (row - 30) // 2
        image[row, col - 6 : col + 6] = 255
    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(4))) if soft else image


def png_bytes(image: np.ndarray | Image.Image, **save) -> bytes:
    """The image as a PNG file's bytes."""
    out = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(out, format="PNG", **save)
    return out.getvalue()
