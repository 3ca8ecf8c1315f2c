"""Fixtures shared across test groups."""
import dataclasses

import pytest


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """An untrained small model saved as .h5: enough for tests of file handling and output formats."""
    from stages import train

    params = dataclasses.replace(train.read_params(), width=0.125)
    path = tmp_path_factory.mktemp("model") / "model.h5"
    train.build_model(params).save(path, include_optimizer=False)
    return path
