"""Fixtures shared across test groups, and which tests are slow (`make test-fast` leaves them out)."""

import copy
from pathlib import Path

import pytest

from tests.param_edits import TRAIN, changed

# Real DVC end to end, injected faults, the server and browser, the benchmark, and training on the real MNIST:
# minutes, not seconds. `make test` and CI run them; `make test-fast` (pytest -m "not slow") skips them.
SLOW = ("pipeline", "faults", "app", "model/test_predict_transform.py")
TESTS = Path(__file__).parent


def pytest_collection_modifyitems(items):
    for item in items:
        where = Path(item.fspath).relative_to(TESTS).as_posix()
        if any(where == slow or where.startswith(slow + "/") for slow in SLOW):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def train_values():
    """The tests' training parameters as params.yaml holds them (a fresh copy to edit)."""
    return copy.deepcopy(TRAIN)


@pytest.fixture(scope="session")
def train_params():
    from stages import params

    return params.Train.model_validate(TRAIN)


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory, train_params):
    """An untrained small model saved as .h5: enough for tests of file handling and output formats."""
    from stages import train

    path = tmp_path_factory.mktemp("model") / "model.h5"
    train.build_model(changed(train_params, **{"model.width": 0.125})).save(path, include_optimizer=False)
    return path
