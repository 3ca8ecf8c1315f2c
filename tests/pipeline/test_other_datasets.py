"""Pipeline: a dataset with another number of classes, named in params.yaml `dataset`, end to end with the real
DVC on tiny IDX data the test writes: every report, plot and prediction speaks of its class names."""

import csv
import json
import sys

import numpy as np
import onnx
import pytest

from tests.support import synthetic
from tests.support.project import STAGES, new_project, ran_stages

CLASSES = ["north", "east", "south", "west"]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = new_project(tmp_path_factory.mktemp("project"), tmp_path_factory.mktemp("mirror"), classes=CLASSES)
    output = project.dvc("repro")
    assert ran_stages(output) == set(STAGES), output
    return project


def test_the_metrics_name_each_class(project):
    metrics = json.loads((project.root / "metrics" / "evaluate.json").read_text())
    assert list(metrics["per_class_accuracy"]) == CLASSES
    assert metrics["accuracy"] >= 0.8, "the tiny four-class task is learnable"
    with (project.root / "plots" / "classification_report.csv").open() as f:
        assert [row["class"] for row in csv.DictReader(f)] == CLASSES
    with (project.root / "plots" / "predictions.csv").open() as f:
        assert {int(row["predicted"]) for row in csv.DictReader(f)} <= set(range(len(CLASSES)))


def test_the_onnx_file_carries_the_class_names_and_predict_answers_with_them(project, tmp_path):
    model = onnx.load(project.root / "models" / "model.onnx")
    assert json.loads({p.key: p.value for p in model.metadata_props}["class_names"]) == CLASSES
    images, labels = synthetic.digits(8, seed=9, classes=len(CLASSES))
    np.save(tmp_path / "images.npy", images)
    result = project.run(sys.executable, "-m", "tools.predict", str(tmp_path / "images.npy"), "--json")
    rows = json.loads(result.stdout)
    assert [row["class"] for row in rows] == [CLASSES[label] for label in labels]
    assert all(len(row["probabilities"]) == 4 for row in rows)


def test_a_class_name_the_data_lacks_stops_preprocess_with_one_line(project):
    project.edit_params("dataset", classes=[*CLASSES, "up"])
    try:
        result = project.run(sys.executable, "-m", "dvc", "repro", check=False)
    finally:
        project.edit_params("dataset", classes=CLASSES)
    assert result.returncode != 0
    assert (
        "error: train labels never contain class 4 ('up'); every class in dataset.classes must occur: "
        "remove the names of classes the data does not have" in result.stderr
    ), result.stderr
