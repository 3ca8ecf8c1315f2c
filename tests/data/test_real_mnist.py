"""Data: the real MNIST files, when a local copy is at hand, match the pinned checksums and pass validation."""

import numpy as np
import yaml

from classifier import dataset, download, paths
from tests.support.real_mnist import REAL_MNIST, needs_real_mnist, real_mnist

pytestmark = needs_real_mnist


def test_real_files_match_the_pinned_checksums():
    pinned = yaml.safe_load(paths.PARAMS_PATH.read_text())["fetch"]["sha256"]
    for role, name in dataset.RAW_FILES.items():
        assert download.sha256_of(REAL_MNIST / name) == pinned[role], name


def test_real_files_parse_and_validate():
    train_x, train_y = real_mnist("train")
    test_x, test_y = real_mnist("test")
    assert train_x.shape == (60000, 28, 28) and test_x.shape == (10000, 28, 28)
    assert np.bincount(train_y).min() > 5000 and np.bincount(test_y).min() > 850
