"""Preprocess stage: parse and validate the raw IDX files and write model-ready arrays.

Reads: data/raw/*.gz (the four IDX files) and params.yaml `preprocess` (val_fraction, seed).
Writes: data/processed/{train,val,test}.npz, each holding x, float32 (N, 28, 28, 1) scaled to [0, 1], and
        y, float32 one-hot (N, 10). val is a stratified split of the training set; test is the untouched
        test set, used only by the evaluate stage.
"""

import sys

from classifier import dataset, files, idx, paths, splits
from classifier.errors import run
from classifier.params.checks import load
from classifier.params.preprocess import Preprocess


def main() -> None:
    p = load(Preprocess)
    raw = dataset.RAW_FILES
    train_images, train_labels = idx.read_split(raw["train_images"], raw["train_labels"], "train", paths.RAW_DIR)
    test_images, test_labels = idx.read_split(raw["test_images"], raw["test_labels"], "test", paths.RAW_DIR)
    train_x, train_y, val_x, val_y = splits.split_validation(train_images, train_labels, p.val_fraction, p.seed)
    outputs = {"train": (train_x, train_y), "val": (val_x, val_y), "test": (test_images, test_labels)}
    for split, (images, labels) in outputs.items():
        path = files.save_processed(split, *splits.to_model_inputs(images, labels))
        print(f"{split}: {len(labels)} images -> {path.relative_to(paths.ROOT)}")


if __name__ == "__main__":
    sys.exit(run(main))
