"""Data: the real MNIST files, when a local copy is at hand, match the pinned checksums and pass validation."""
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from stages import common, fetch, preprocess

LOCAL = Path(os.environ.get("MNIST_MIRROR") or common.ROOT.parent / "shared" / "data" / "mnist")

pytestmark = pytest.mark.skipif(
    not (LOCAL / common.RAW_FILES["train_images"]).is_file(),
    reason=f"no local copy of the real MNIST at {LOCAL} (set MNIST_MIRROR to a directory holding it)",
)


def test_real_files_match_the_pinned_checksums():
    pinned = yaml.safe_load(common.PARAMS_PATH.read_text())["fetch"]["sha256"]
    for name, digest in pinned.items():
        assert fetch.sha256_of(LOCAL / name) == digest, name


def test_real_files_parse_and_validate():
    files = common.RAW_FILES
    train_x, train_y = preprocess.load_split(files["train_images"], files["train_labels"], "train", LOCAL)
    test_x, test_y = preprocess.load_split(files["test_images"], files["test_labels"], "test", LOCAL)
    assert train_x.shape == (60000, 28, 28) and test_x.shape == (10000, 28, 28)
    assert np.bincount(train_y).min() > 5000 and np.bincount(test_y).min() > 850
