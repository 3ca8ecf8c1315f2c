"""Preprocess stage: parse and validate the raw IDX files and write model-ready arrays.

Reads: data/raw/*.gz (the four IDX files), params.yaml `dataset` (image_size, channels, classes: what the
       files must hold) and `preprocess` (val_fraction, seed).
Writes: data/processed/{train,val,test}.npz, each holding x, float32 (N, H, W, C) scaled to [0, 1], and
        y, float32 one-hot (N, classes). val is a stratified split of the training set; test is the untouched
        test set, used only by the evaluate stage.
"""

import sys

from classifier import files, idx, paths, splits
from classifier.errors import run
from classifier.params.checks import load
from classifier.params.dataset import Dataset
from classifier.params.preprocess import Preprocess


def main() -> None:
    d, p = load(Dataset), load(Preprocess)
    train_images, train_labels = idx.read_split("train", paths.RAW_DIR, d)
    test_images, test_labels = idx.read_split("test", paths.RAW_DIR, d)
    train_x, train_y, val_x, val_y = splits.split_validation(train_images, train_labels, p.val_fraction, p.seed)
    outputs = {"train": (train_x, train_y), "val": (val_x, val_y), "test": (test_images, test_labels)}
    for split, (images, labels) in outputs.items():
        path = files.save_processed(split, *splits.to_model_inputs(images, labels, d.num_classes))
        print(f"{split}: {len(labels)} images -> {path.relative_to(paths.ROOT)}")


if __name__ == "__main__":
    sys.exit(run(main))
