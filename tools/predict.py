"""Classify your own images with the trained model: photos of handwritten digits, or arrays like the dataset's.

Usage: python -m tools.predict PATH... [--model models/model.onnx] [--json | --csv] [--batch-size 256]

PATH may be an image (PNG, JPEG, BMP, ...), a directory of them, or a .npy/.npz array of images shaped as the
model takes them (one, or a stack). Photos and scans go through the transform that made MNIST (classifier/transform.py).
The model (models/model.onnx) is loaded once and run in batches by ONNX Runtime; TensorFlow is
never imported. Prints a table (file, class, confidence, the next two
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

from classifier import inference, paths
from classifier.errors import UserError, native_stderr_silenced
from classifier.transform import MNIST_FRAME, InputError, mnist_normalise, read_image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
ARRAY_SUFFIXES = {".npy", ".npz"}


@dataclass
class Prediction:
    source: str
    probabilities: np.ndarray
    class_names: tuple[str, ...]

    def ranked(self) -> list[tuple[int, float]]:
        """(class index, probability), most likely first."""
        order = np.argsort(-self.probabilities)
        return [(int(i), float(self.probabilities[i])) for i in order]

    def as_dict(self) -> dict:
        ranked = self.ranked()
        return {
            "file": self.source,
            "class": self.class_names[ranked[0][0]],
            "index": ranked[0][0],
            "confidence": round(ranked[0][1], 6),
            "next": [{"class": self.class_names[i], "probability": round(p, 6)} for i, p in ranked[1:3]],
            "probabilities": [round(float(p), 6) for p in self.probabilities],
        }


def read_arrays(path: Path, image_shape: tuple[int, int, int] = MNIST_FRAME) -> list[np.ndarray]:
    """Images shaped as the model takes them (`image_shape`, (H, W, C)) from a .npy, or an .npz of one array, as
    the dataset holds them: one image or a stack, the channel axis optional when C is 1, on the scale 0-1 or
    0-255. Values outside both are refused rather than guessed (they gave 100% confidence to anything)."""
    array = load_array(path)
    if array.dtype.kind not in "biuf":
        raise InputError(
            f"not a readable NumPy array of numbers (it holds {array.dtype} values); save real numbers with numpy.save"
        )
    shape = array.shape
    height, width, channels = image_shape
    if channels == 1 and array.ndim in (2, 3) and array.shape[-2:] == (height, width):
        array = array[..., np.newaxis]
    if array.ndim == 3:
        array = array[np.newaxis]
    if array.ndim != 4 or array.shape[1:] != image_shape or not len(array):
        one = f"({height}, {width})" if channels == 1 else f"({height}, {width}, {channels})"
        raise InputError(f"array has shape {shape}; the model takes {one} images, one or a stack of N")
    if not np.isfinite(array).all():
        raise InputError("array holds NaN or infinite values")
    low, high = array.min(), array.max()
    if low < 0 or high > 255:
        raise InputError(
            f"array values span [{low:g}, {high:g}]; expected 0-1 or 0-255, as in the dataset (white digit on black)"
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


def load_inputs(
    paths: list[Path], image_shape: tuple[int, int, int] = MNIST_FRAME
) -> tuple[list[tuple[str, np.ndarray]], list[tuple[str, str]]]:
    """(name, image shaped `image_shape`) for each usable input, and (name, reason) for each one that failed.
    Photos go through the MNIST-style transform, which makes 28x28 grayscale frames: for a model that takes
    other images, only arrays are accepted."""
    digits, failures = [], []
    for path in paths:
        try:
            if not path.is_file():
                raise InputError("no such file")
            if path.suffix.lower() in ARRAY_SUFFIXES:
                arrays = read_arrays(path, image_shape)
                digits += [(f"{path}[{i}]" if len(arrays) > 1 else str(path), a) for i, a in enumerate(arrays)]
            elif image_shape != MNIST_FRAME:
                raise InputError(
                    f"the model takes {image_shape} images and the photo transform makes MNIST's "
                    f"{MNIST_FRAME}; give .npy arrays shaped as the model's input"
                )
            else:
                digits.append((str(path), mnist_normalise(read_image(path))[..., np.newaxis]))
        except InputError as exc:
            failures.append((str(path), str(exc)))
    return digits, failures


def predict(classify: inference.Classifier, images: list[tuple[str, np.ndarray]], batch_size: int) -> list[Prediction]:
    """Each image's prediction, `batch_size` images at a time, by the ONNX model in ONNX Runtime."""
    if not images:
        return []
    probabilities = classify(np.stack([image for _, image in images]), batch_size)
    names = classify.class_names
    return [Prediction(name, p, names) for (name, _), p in zip(images, probabilities, strict=True)]


def render(predictions: list[Prediction], fmt: str) -> str:
    rows = [p.as_dict() for p in predictions]
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["file", "class", "confidence", "second", "second_probability", "third", "third_probability"])
        for row in rows:
            writer.writerow(
                [
                    row["file"],
                    row["class"],
                    row["confidence"],
                    *[v for n in row["next"] for v in (n["class"], n["probability"])],
                ]
            )
        return out.getvalue()
    width = max([4] + [len(row["file"]) for row in rows])
    named = max([5] + [len(row["class"]) for row in rows])
    lines = [f"{'file':<{width}}  {'class':>{named}}  confidence  next guesses"]
    for row in rows:
        guesses = ", ".join(f"{n['class']} ({n['probability']:.1%})" for n in row["next"])
        lines.append(f"{row['file']:<{width}}  {row['class']:>{named}}  {row['confidence']:>10.1%}  {guesses}")
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
    try:
        classify = inference.Classifier(args.model)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with native_stderr_silenced():  # libtiff writes a damaged file's decoding error there itself
        images, failures = load_inputs(expand(args.paths), classify.image_shape)
    for name, reason in failures:
        print(f"error: {name}: {reason}", file=sys.stderr)
    sys.stdout.write(render(predict(classify, images, args.batch_size), args.fmt))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
