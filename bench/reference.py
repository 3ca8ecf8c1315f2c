"""The reference: Keras's classic MNIST convnet (keras.io/examples/vision/mnist_convnet), trained as published.

Conv2D 32 3x3 relu, MaxPool 2, Conv2D 64 3x3 relu, MaxPool 2, Flatten, Dropout 0.5, Dense 10 softmax;
Adam, batch 128, 15 epochs, validation_split 0.1. Reads data/processed/{train,val,test}.npz under --root
(train + val together are the full 60,000, as in the original), prints one JSON line: wall time of fit(),
test accuracy, and the model's forward FLOPs per image.

Usage: python -m bench.reference --root DIR [--epochs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench.flops import forward_flops  # noqa: E402


def load(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(root / "data" / "processed" / f"{split}.npz") as data:
        return data["x"], data["y"]


def build() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            keras.layers.MaxPooling2D(pool_size=(2, 2)),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    (train_x, train_y), (val_x, val_y) = load(args.root, "train"), load(args.root, "val")
    x, y = np.concatenate([train_x, val_x]), np.concatenate([train_y, val_y])
    test_x, test_y = load(args.root, "test")
    keras.utils.set_random_seed(1)
    model = build()
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    started = time.perf_counter()
    model.fit(x, y, batch_size=128, epochs=args.epochs, validation_split=0.1, verbose=2)
    train_time = time.perf_counter() - started
    _, accuracy = model.evaluate(test_x, test_y, verbose=0)
    print(
        json.dumps(
            {
                "train_time_s": round(train_time, 1),
                "test_accuracy": round(float(accuracy), 6),
                "epochs": args.epochs,
                "train_images": int(len(x) * 0.9),
                "forward_mflop": round(forward_flops(model) / 1e6, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
