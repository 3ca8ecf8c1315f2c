"""Classify your own digit images with the trained model.

Usage: python -m tools.predict PATH... [--model models/model.h5] [--json | --csv] [--batch-size 256]

PATH may be an image (PNG, JPEG, BMP, ...), a directory of them, or a .npy/.npz array of 28x28 digits
(one, or a stack). Photos and scans go through the transform that made MNIST: grayscale, inverted when the
background is light, faint noise dropped, cropped to the ink, scaled to fit 20x20 keeping the aspect ratio,
and placed in a 28x28 frame centred on the ink's centre of mass. The model is loaded once and run in
batches. Prints a table (file, digit, confidence, the next two guesses), or JSON or CSV. A bad input gets
one line on stderr and the rest still run; the exit code is 1 when any input failed, 2 when the model did.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from stages import common, model_file

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
ARRAY_SUFFIXES = {".npy", ".npz"}
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


@dataclass
class Prediction:
    source: str
    probabilities: np.ndarray

    def ranked(self) -> list[tuple[int, float]]:
        order = np.argsort(-self.probabilities)
        return [(int(d), float(self.probabilities[d])) for d in order]

    def as_dict(self) -> dict:
        ranked = self.ranked()
        return {
            "file": self.source,
            "digit": ranked[0][0],
            "confidence": round(ranked[0][1], 6),
            "next": [{"digit": d, "probability": round(p, 6)} for d, p in ranked[1:3]],
            "probabilities": [round(float(p), 6) for p in self.probabilities],
        }


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
    size = common.IMAGE_SIZE
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


def read_arrays(path: Path) -> list[np.ndarray]:
    """28x28 digits from a .npy, or an .npz of one array: MNIST polarity, on MNIST's scale 0-1 or 0-255.
    Values outside both are refused rather than guessed (they gave 100% confidence to anything)."""
    array = load_array(path)
    if array.dtype.kind not in "biuf":
        raise InputError(
            f"not a readable NumPy array of numbers (it holds {array.dtype} values); save real numbers with numpy.save"
        )
    shape = array.shape
    if array.ndim in (3, 4) and shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = array[np.newaxis]
    size = common.IMAGE_SIZE
    if array.ndim != 3 or array.shape[1:] != (size, size) or not len(array):
        raise InputError(f"array has shape {shape}; expected (28, 28) or (N, 28, 28) digits")
    if not np.isfinite(array).all():
        raise InputError("array holds NaN or infinite values")
    low, high = array.min(), array.max()
    if low < 0 or high > 255:
        raise InputError(
            f"array values span [{low:g}, {high:g}]; expected 0-1 or 0-255 (MNIST's scales), white digit on black"
        )
    unit = array.astype(np.float32) / (255.0 if high > 1 else 1.0)
    return list(unit)


def load_array(path: Path) -> np.ndarray:
    """The array in a .npy, or the one array in an .npz (one with several is refused, naming them: picking one
    would be a guess). Pickles are refused; any parse failure is an InputError."""
    loaded = parsed(lambda: np.load(path, allow_pickle=False))
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        if len(loaded.files) != 1:
            names = f" ({', '.join(loaded.files)})" if loaded.files else ""
            raise InputError(
                f"the .npz holds {len(loaded.files)} arrays{names}, not one; save the digits alone "
                "with numpy.save or numpy.savez(path, digits)"
            )
        return parsed(lambda: loaded[loaded.files[0]])


def parsed(read):
    """read(), with any failure of NumPy's parsers (ValueError, EOFError, BadZipFile, ...) as an InputError."""
    try:
        return read()
    except Exception as exc:
        raise InputError(f"not a readable NumPy array of numbers ({exc.__class__.__name__}); save it with numpy.save")


def expand(paths: list[str]) -> list[Path]:
    """Directories become the images and arrays inside them, in name order."""
    found = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES | ARRAY_SUFFIXES)
        else:
            found.append(path)
    return found


def load_inputs(paths: list[Path]) -> tuple[list[tuple[str, np.ndarray]], list[tuple[str, str]]]:
    """(name, 28x28 digit) for each usable input, and (name, reason) for each one that failed."""
    digits, failures = [], []
    for path in paths:
        try:
            if not path.is_file():
                raise InputError("no such file")
            if path.suffix.lower() in ARRAY_SUFFIXES:
                arrays = read_arrays(path)
                digits += [(f"{path}[{i}]" if len(arrays) > 1 else str(path), a) for i, a in enumerate(arrays)]
            else:
                digits.append((str(path), mnist_normalise(read_image(path))))
        except InputError as exc:
            failures.append((str(path), str(exc)))
    return digits, failures


def predict(classify: model_file.Classifier, digits: list[tuple[str, np.ndarray]], batch_size: int) -> list[Prediction]:
    """Each digit's prediction, `batch_size` images at a time, through the model's forward pass in ONNX Runtime
    (model_file.Classifier)."""
    if not digits:
        return []
    images = np.stack([d for _, d in digits])[..., np.newaxis]
    probabilities = classify(images, batch_size)
    return [Prediction(name, p) for (name, _), p in zip(digits, probabilities, strict=True)]


def render(predictions: list[Prediction], fmt: str) -> str:
    rows = [p.as_dict() for p in predictions]
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["file", "digit", "confidence", "second", "second_probability", "third", "third_probability"])
        for row in rows:
            writer.writerow(
                [
                    row["file"],
                    row["digit"],
                    row["confidence"],
                    *[v for n in row["next"] for v in (n["digit"], n["probability"])],
                ]
            )
        return out.getvalue()
    width = max([4] + [len(row["file"]) for row in rows])
    lines = [f"{'file':<{width}}  digit  confidence  next guesses"]
    for row in rows:
        guesses = ", ".join(f"{n['digit']} ({n['probability']:.1%})" for n in row["next"])
        lines.append(f"{row['file']:<{width}}  {row['digit']:>5}  {row['confidence']:>10.1%}  {guesses}")
    return "\n".join(lines) + "\n"


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="images, directories of images, or .npy/.npz arrays")
    parser.add_argument("--model", type=Path, default=common.MODEL_PATH)
    parser.add_argument("--batch-size", type=positive_int, default=256)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--json", dest="fmt", action="store_const", const="json", default="table")
    group.add_argument("--csv", dest="fmt", action="store_const", const="csv")
    args = parser.parse_args(argv)
    with model_file.native_stderr_silenced():  # libtiff writes a damaged file's decoding error there itself
        digits, failures = load_inputs(expand(args.paths))
    for name, reason in failures:
        print(f"error: {name}: {reason}", file=sys.stderr)
    try:
        model = model_file.load_model(args.model)
    except common.UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(render(predict(model_file.Classifier(model), digits, args.batch_size), args.fmt))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
