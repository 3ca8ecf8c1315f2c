"""Code: the export and evaluate stages read models/model.h5 through classifier.keras_model, which refuses a file
that is no classifier of this project's images with one line naming the fix."""

import json

import h5py
import keras
import pytest

from classifier import errors, keras_model
from tests.support.synthetic import MNIST


@pytest.fixture(scope="module")
def odd_models(tmp_path_factory):
    """Real Keras .h5 files that load but are no MNIST classifier: the wrong input shape, the wrong number of
    classes, and a file whose model config is a single layer; and one that is not HDF5 at all."""
    folder = tmp_path_factory.mktemp("odd_models")
    for name, shape, classes in [("rgb32.h5", (32, 32, 3), 10), ("seven_classes.h5", (28, 28, 1), 7)]:
        keras.Sequential(
            [keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(classes, activation="softmax")]
        ).save(folder / name)
    (folder / "layer.h5").write_bytes((folder / "seven_classes.h5").read_bytes())
    with h5py.File(folder / "layer.h5", "r+") as h5:
        h5.attrs["model_config"] = json.dumps({"class_name": "Dense", "config": {"units": 3}})
    (folder / "garbage.h5").write_bytes(b"\x00garbage" * 100)
    return folder


@pytest.mark.parametrize(
    "name, message",
    [
        (
            "rgb32.h5",
            "takes inputs shaped (None, 32, 32, 3) and gives (None, 10); "
            "a classifier of params.yaml's dataset (MNIST) takes (None, 28, 28, 1) and gives (None, 10)",
        ),
        ("seven_classes.h5", "takes inputs shaped (None, 28, 28, 1) and gives (None, 7)"),
        ("layer.h5", "is not a readable Keras HDF5 file (AttributeError: "),
        ("garbage.h5", "is not a readable Keras HDF5 file"),
    ],
)
def test_a_file_that_is_no_classifier_is_one_line_naming_the_fix(odd_models, name, message):
    with pytest.raises(errors.UserError) as error:
        keras_model.load_model(odd_models / name, MNIST)
    text = str(error.value)
    assert text.startswith(f"model {odd_models / name} ") and message in text and "\n" not in text
    assert "dvc repro --force train" in text


def test_a_missing_file_names_the_command_that_makes_it(tmp_path):
    with pytest.raises(errors.UserError, match="not found; train it with `dvc repro`"):
        keras_model.load_model(tmp_path / "none.h5", MNIST)


def test_the_same_model_exports_to_the_same_bytes(tiny_model_path):
    from classifier import onnx_export

    model = keras_model.load_model(tiny_model_path, MNIST)
    first = onnx_export.to_onnx(model, MNIST.classes)
    assert onnx_export.to_onnx(keras_model.load_model(tiny_model_path, MNIST), MNIST.classes) == first
    assert b"class_names" in first
