"""The four files of an MNIST-format dataset, by role. What the images are (their size, channels and class names)
is params.yaml's `dataset` section (classifier/params/dataset.py)."""

RAW_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
