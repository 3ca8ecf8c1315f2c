"""Data: IDX parsing and the checks on shapes, dtype and labels, each failure with its clear error."""

import gzip

import numpy as np
import pytest

from classifier import errors, idx, splits
from tests.support import synthetic
from tests.support.synthetic import MNIST


def test_idx_round_trip(tmp_path):
    images, labels = synthetic.digits(30)
    assert np.array_equal(idx.read_idx(synthetic.write_idx(tmp_path / "i.gz", images)), images)
    assert np.array_equal(idx.read_idx(synthetic.write_idx(tmp_path / "l.gz", labels)), labels)


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"\x08\x03" + b"\x00" * 20, "bad magic number"),
        (synthetic.idx_bytes(np.zeros((2, 28, 28), np.uint8))[:-5], "promises 1568"),
        (synthetic.idx_bytes(np.zeros((2, 28, 28), np.uint8), type_code=0x0D), "element type 0x0d"),
        (bytes([0, 0, 8, 3, 0, 0]), "truncated IDX header"),
    ],
)
def test_malformed_idx_is_a_clear_error(tmp_path, content, expected):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(content))
    with pytest.raises(errors.UserError, match=expected):
        idx.read_idx(path)


def test_not_gzip_and_missing_files_are_clear_errors(tmp_path):
    path = tmp_path / "plain.gz"
    path.write_bytes(b"<html>rate limited</html>")
    with pytest.raises(errors.UserError, match="not a readable gzip file"):
        idx.read_idx(path)
    with pytest.raises(errors.UserError, match="run the fetch stage first"):
        idx.read_idx(tmp_path / "missing.gz")


def test_valid_data_passes():
    idx.validate(*synthetic.digits(40), "train", MNIST)


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (
            lambda x, y: (x, np.where(y == 3, 12, y).astype(np.uint8)),
            "labels must be 0-9, one per name in dataset.classes; found 4 out of range",
        ),
        (lambda x, y: (x[y != 7], y[y != 7]), "never contain class 7"),
        (lambda x, y: (x[:-1], y), "39 images but 40 labels"),
        (lambda x, y: (x[:, :27], y), r"shape \(40, 27, 28\)"),
        (lambda x, y: (x, y.reshape(20, 2)), "expected a 1-D label file"),
        (lambda x, y: (x.astype(np.int32), y), "must be uint8"),
    ],
)
def test_bad_data_is_rejected(mutate, expected):
    images, labels = mutate(*synthetic.digits(40))
    with pytest.raises(errors.UserError, match=expected):
        idx.validate(images, labels, "train", MNIST)


def test_another_number_of_classes_is_checked_against_its_names():
    four = MNIST.model_copy(update={"classes": ["north", "east", "south", "west"]})
    images, labels = synthetic.digits(40, classes=4)
    idx.validate(images, labels, "train", four)
    x, y = splits.to_model_inputs(images, labels, four.num_classes)
    assert y.shape == (40, 4) and (y.argmax(axis=1) == labels).all()
    with pytest.raises(errors.UserError, match=r"labels must be 0-2, one per name.*found 10 out of range"):
        idx.validate(images, labels, "train", four.model_copy(update={"classes": ["north", "east", "south"]}))
    with pytest.raises(errors.UserError, match="never contain class 4 \\('up'\\)"):
        idx.validate(images, labels, "train", four.model_copy(update={"classes": [*four.classes, "up"]}))


def test_model_inputs_are_scaled_reshaped_and_one_hot():
    images, labels = synthetic.digits(20)
    x, y = splits.to_model_inputs(images, labels, 10)
    assert x.shape == (20, 28, 28, 1) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() == 1.0
    assert y.shape == (20, 10) and y.dtype == np.float32
    assert np.array_equal(y.argmax(axis=1), labels) and np.all(y.sum(axis=1) == 1)


def test_validation_split_is_stratified_disjoint_and_seeded():
    images, labels = synthetic.digits(200)
    images[:, 0, 0] = np.arange(200)  # tag each image so the split can be traced
    tx, ty, vx, vy = splits.split_validation(images, labels, 0.1, seed=5)
    assert len(vy) == 20 and len(ty) == 180
    assert np.bincount(vy, minlength=10).tolist() == [2] * 10
    tags = set(tx[:, 0, 0].tolist()) | set(vx[:, 0, 0].tolist())
    assert tags == set(range(200)) and not set(tx[:, 0, 0].tolist()) & set(vx[:, 0, 0].tolist())
    again = splits.split_validation(images, labels, 0.1, seed=5)
    assert np.array_equal(again[2], vx)
    with pytest.raises(errors.UserError, match="raise preprocess.val_fraction"):
        splits.split_validation(images, labels, 0.02, seed=5)
