"""Pipeline: `train.ensemble` end to end with the real DVC on tiny synthetic data: the members are trained in
turn, member 1 is the single model of the same params, and the saved average loads with plain Keras, exports to
ONNX with every member folded, and is what evaluate scores."""

import json

import keras
import numpy as np
import onnx
import pytest

from tests.support.project import STAGES, new_project, ran_stages


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = new_project(tmp_path_factory.mktemp("project"), tmp_path_factory.mktemp("mirror"))
    project.edit_params("train", deterministic=True, epochs=2)
    project.dvc("repro")
    (project.root / "single.h5").write_bytes((project.root / "models" / "model.h5").read_bytes())
    project.edit_params("train", ensemble=3)
    output = project.dvc("repro")
    assert ran_stages(output) == set(STAGES) - {"fetch", "preprocess"}, output
    return project


def test_the_metrics_give_each_member_and_the_ensembles_validation_accuracy(project):
    metrics = json.loads((project.root / "metrics" / "train" / "metrics.json").read_text())
    assert list(metrics["members"]) == ["1", "2", "3"]
    assert all(1 <= member["best_epoch"] <= member["epochs_run"] == 2 for member in metrics["members"].values())
    assert metrics["epochs_run"] == 6
    assert 0.5 < metrics["ensemble_val_accuracy"] <= 1
    assert "best_epoch" not in metrics, "an ensemble has no single best epoch"


def test_the_saved_model_averages_members_of_which_the_first_is_the_single_model(project):
    ensemble = keras.models.load_model(project.root / "models" / "model.h5", compile=False)
    single = keras.models.load_model(project.root / "single.h5", compile=False)
    members = [layer for layer in ensemble.layers if isinstance(layer, keras.Model)]
    assert [member.name for member in members] == ["member_1", "member_2", "member_3"]
    for got, expected in zip(members[0].get_weights(), single.get_weights(), strict=True):
        np.testing.assert_array_equal(got, expected)
    assert not np.array_equal(members[1].get_weights()[0], members[0].get_weights()[0]), "each member its own seed"
    x = np.random.default_rng(0).random((16, 28, 28, 1), dtype=np.float32)
    mean = np.mean([member.predict(x, verbose=0) for member in members], axis=0)
    np.testing.assert_allclose(ensemble.predict(x, verbose=0), mean, atol=1e-6)


def test_the_onnx_file_folds_every_member_and_evaluate_scores_the_ensemble(project):
    graph = onnx.load(project.root / "models" / "model.onnx").graph
    ops = [node.op_type for node in graph.node]
    assert "BatchNormalization" not in ops and ops.count("Conv") == 3 * 3  # three convolutions a member
    evaluation = json.loads((project.root / "metrics" / "evaluate.json").read_text())
    assert evaluation["accuracy"] >= 0.8, "the tiny task is learnable"
