"""Classify your own images with the trained model: photos of handwritten digits, or arrays like the dataset's.

Usage: python -m tools.predict PATH... [--model models/model.onnx] [--json | --csv] [--batch-size 256]
                                      [--max-array-gb 2]

PATH may be an image (PNG, JPEG, BMP, ...), a directory of them, or a .npy/.npz array of images shaped as the
model takes them (one, or a stack): checked from its header, then streamed in batches, so that an array of any
size within --max-array-gb takes the memory of one batch (classifier/image_arrays.py). Photos and scans go
through the transform that made MNIST (classifier/transform.py). The model (models/model.onnx) is loaded once
and run in batches by ONNX Runtime; TensorFlow is never imported. Prints a table (file, class, confidence, the
next two guesses), or JSON or CSV, row by row as the batches are classified. A bad input gets one line on
stderr and the rest still run; the exit code is 1 when any input failed, 2 when the model did.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from classifier import image_arrays, inference, paths
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


Photo = tuple[str, np.ndarray]  # a photo's name and its image, shaped as the model takes it


def load_inputs(
    paths: list[Path], image_shape: tuple[int, int, int] = MNIST_FRAME, max_array_gb: float = image_arrays.MAX_GB
) -> tuple[list[Photo | image_arrays.ImageArray], list[tuple[str, str]]]:
    """Each usable input, in order: a photo's (name, image shaped `image_shape`), or an array file checked and
    ready to stream; and (name, reason) for each one that failed. Photos go through the MNIST-style transform,
    which makes 28x28 grayscale frames: for a model that takes other images, only arrays are accepted."""
    inputs, failures = [], []
    for path in paths:
        try:
            if not path.is_file():
                raise InputError("no such file")
            if path.suffix.lower() in ARRAY_SUFFIXES:
                inputs.append(image_arrays.open_array(path, image_shape, max_array_gb))
            elif image_shape != MNIST_FRAME:
                raise InputError(
                    f"the model takes {image_shape} images and the photo transform makes MNIST's "
                    f"{MNIST_FRAME}; give .npy arrays shaped as the model's input"
                )
            else:
                inputs.append((str(path), mnist_normalise(read_image(path))[..., np.newaxis]))
        except InputError as exc:
            failures.append((str(path), str(exc)))
    return inputs, failures


def row_names(array: image_arrays.ImageArray, start: int, count: int) -> list[str]:
    """The names of an array's images `start` to `start + count`: the file's name, indexed when it holds several."""
    if array.count == 1:
        return [str(array.path)]
    return [f"{array.path}[{i}]" for i in range(start, start + count)]


def batches(
    inputs: list[Photo | image_arrays.ImageArray], batch_size: int, failures: list[tuple[str, str]]
) -> Iterator[tuple[list[str], np.ndarray]]:
    """(names, images) at most `batch_size` at a time, in the inputs' order: consecutive photos together, an
    array streamed from its file. An array that fails while streaming is added to `failures`."""
    photos: list[Photo] = []
    for item in [*inputs, None]:
        if isinstance(item, tuple):
            photos.append(item)
            if len(photos) < batch_size:
                continue
        if photos:
            yield [name for name, _ in photos], np.stack([image for _, image in photos])
            photos = []
        if isinstance(item, image_arrays.ImageArray):
            start = 0
            try:
                for images in item.batches(batch_size):
                    yield row_names(item, start, len(images)), images
                    start += len(images)
            except InputError as exc:
                failures.append((str(item.path), str(exc)))


def predict(
    classify: inference.Classifier,
    inputs: list[Photo | image_arrays.ImageArray],
    batch_size: int,
    failures: list[tuple[str, str]],
) -> Iterator[Prediction]:
    """Each image's prediction, `batch_size` images at a time, by the ONNX model in ONNX Runtime; an array that
    fails while it is read is added to `failures`."""
    for names, images in batches(inputs, batch_size, failures):
        for name, probabilities in zip(names, classify(images, batch_size), strict=True):
            yield Prediction(name, probabilities, classify.class_names)


def write(predictions: Iterable[Prediction], fmt: str, out: TextIO, name_width: int, class_width: int) -> None:
    """Each prediction as a row of a table (columns `name_width` and `class_width` wide), of JSON or of CSV,
    written as it comes: the output of a large array never sits in memory."""
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(["file", "class", "confidence", "second", "second_probability", "third", "third_probability"])
    elif fmt == "json":
        out.write("[")
    else:
        out.write(f"{'file':<{name_width}}  {'class':>{class_width}}  confidence  next guesses\n")
    i = -1
    for i, prediction in enumerate(predictions):
        row = prediction.as_dict()
        if fmt == "csv":
            writer.writerow(
                [row["file"], row["class"], row["confidence"], *[v for n in row["next"] for v in n.values()]]
            )
        elif fmt == "json":
            out.write(("," if i else "") + "\n" + textwrap.indent(json.dumps(row, indent=2), "  "))
        else:
            guesses = ", ".join(f"{n['class']} ({n['probability']:.1%})" for n in row["next"])
            out.write(
                f"{row['file']:<{name_width}}  {row['class']:>{class_width}}  {row['confidence']:>10.1%}  {guesses}\n"
            )
    if fmt == "json":
        out.write("\n]\n" if i >= 0 else "]\n")


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return int(text)


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="images, directories of images, or .npy/.npz arrays")
    parser.add_argument("--model", type=Path, default=paths.ONNX_PATH, help="the ONNX model (default %(default)s)")
    parser.add_argument("--batch-size", type=positive_int, default=256)
    parser.add_argument(
        "--max-array-gb",
        type=positive_number,
        default=image_arrays.MAX_GB,
        help="refuse a .npy/.npz array larger than this, unpacked (default %(default)s); any size within it is "
        "streamed in batches",
    )
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
        inputs, failures = load_inputs(expand(args.paths), classify.image_shape, args.max_array_gb)
    for name, reason in failures:
        print(f"error: {name}: {reason}", file=sys.stderr)
    names = [
        row_names(item, item.count - 1, 1)[0] if isinstance(item, image_arrays.ImageArray) else item[0]
        for item in inputs
    ]
    name_width = max([4, *map(len, names)])
    class_width = max([5, *map(len, classify.class_names)])
    streamed: list[tuple[str, str]] = []
    write(predict(classify, inputs, args.batch_size, streamed), args.fmt, sys.stdout, name_width, class_width)
    for name, reason in streamed:
        print(f"error: {name}: {reason}", file=sys.stderr)
    return 1 if failures or streamed else 0


if __name__ == "__main__":
    sys.exit(main())
