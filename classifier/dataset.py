"""The dataset, described once: the four IDX files, the images' shape, and the classes."""

RAW_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
IMAGE_SIZE = 28  # square images, IMAGE_SIZE pixels a side
CHANNELS = 1
NUM_CLASSES = 10
CLASS_NAMES = tuple(str(digit) for digit in range(NUM_CLASSES))
INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, CHANNELS)  # one image, as the model takes it
