"""Classify your own digit images with the trained model.

Usage: python -m tools.predict PATH... [--model models/model.onnx] [--json | --csv] [--batch-size 256]

PATH may be an image (PNG, JPEG, BMP, ...), a directory of them, or a .npy/.npz array of 28x28 digits
(one, or a stack). Photos and scans go through the transform that made MNIST (classifier/transform.py).
The model (models/model.onnx) is loaded once and run in batches by ONNX Runtime; TensorFlow is
never imported. Prints a table (file, digit, confidence, the next two
guesses), or JSON or CSV. A bad input gets one line on stderr and the rest still run; the exit code is 1 when
any input failed, 2 when the model did.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from classifier import dataset, inference, paths
from classifier.errors import UserError, native_stderr_silenced
from classifier.transform import InputError, mnist_normalise, read_image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
ARRAY_SUFFIXES = {".npy", ".npz"}


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
    size = dataset.IMAGE_SIZE
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


def predict(classify: inference.Classifier, digits: list[tuple[str, np.ndarray]], batch_size: int) -> list[Prediction]:
    """Each digit's prediction, `batch_size` images at a time, through the model's forward pass in ONNX Runtime
    (models/model.onnx)."""
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
    parser.add_argument("--model", type=Path, default=paths.ONNX_PATH, help="the ONNX model (default %(default)s)")
    parser.add_argument("--batch-size", type=positive_int, default=256)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--json", dest="fmt", action="store_const", const="json", default="table")
    group.add_argument("--csv", dest="fmt", action="store_const", const="csv")
    args = parser.parse_args(argv)
    with native_stderr_silenced():  # libtiff writes a damaged file's decoding error there itself
        digits, failures = load_inputs(expand(args.paths))
    for name, reason in failures:
        print(f"error: {name}: {reason}", file=sys.stderr)
    try:
        classify = inference.Classifier(args.model)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(render(predict(classify, digits, args.batch_size), args.fmt))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
