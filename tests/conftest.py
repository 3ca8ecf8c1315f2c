"""Fixtures shared across test groups, and which tests are slow (`make test-fast` leaves them out)."""

from pathlib import Path

import pytest

from classifier import keras_model, paths
from classifier.model import build_model
from classifier.params import checks, sections
from classifier.params.overrides import applied, changed
from tests.support.models import onnx_file
from tests.support.synthetic import MNIST

# Real DVC end to end, injected faults, the server and browser, the benchmark, and training on the real MNIST:
# minutes, not seconds. `make test` and CI run them; `make test-fast` (pytest -m "not slow") skips them.
SLOW = ("pipeline", "faults", "app", "model/test_predict_transform.py")
TESTS = Path(__file__).parent

# The tests' training: params.yaml's `train` with only these values changed, the ones that make a small strided
# CNN learn the synthetic digits in a few epochs (an experiment on the defaults then never breaks a unit test).
TEST_TRAIN = {
    "seed": 1,
    "deterministic": False,
    "epochs": 6,
    "batch_size": 32,
    "learning_rate": 0.01,
    "warmup_epochs": 0,
    "label_smoothing": 0.0,
    "model.width": 0.25,
    "model.dense_units": [64],
    "model.conv_blocks": [
        {"filters": [32], "kernel_size": 5, "strides": 2, "padding": "valid", "pool": False, "dropout": 0.0},
        {"filters": [64], "kernel_size": 3, "strides": 1, "padding": "same", "pool": True, "dropout": 0.2},
    ],
    "early_stopping.patience": 2,
}


def pytest_collection_modifyitems(items):
    for item in items:
        where = Path(item.fspath).relative_to(TESTS).as_posix()
        if any(where == slow or where.startswith(slow + "/") for slow in SLOW):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def train_values():
    """The tests' training parameters as params.yaml would hold them (a fresh copy to edit)."""
    return applied(checks.read_yaml(paths.PARAMS_PATH)["train"], TEST_TRAIN)


@pytest.fixture(scope="session")
def train_params():
    return sections.Train.model_validate(applied(checks.read_yaml(paths.PARAMS_PATH)["train"], TEST_TRAIN))


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory, train_params):
    """An untrained small model saved as .h5: enough for tests of file handling and output formats."""
    path = tmp_path_factory.mktemp("model") / "model.h5"
    build_model(changed(train_params, **{"model.width": 0.125}), MNIST).save(path, include_optimizer=False)
    return path


@pytest.fixture(scope="session")
def tiny_onnx_path(tiny_model_path):
    """The same model exported as the export stage does: what predict and serve load."""
    return onnx_file(tiny_model_path.with_suffix(".onnx"), keras_model.load_model(tiny_model_path, MNIST))
