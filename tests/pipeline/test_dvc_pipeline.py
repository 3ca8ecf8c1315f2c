"""Pipeline: the real `dvc repro` end to end, in a temporary git repo, on tiny synthetic IDX files."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from stages import common
from tests import synthetic

TINY_TRAIN = {"epochs": 2, "batch_size": 32, "warmup_epochs": 0, "deterministic": False,
              "model": {"filters": [4, 8], "convs_per_block": 1, "dense_units": [16]}}


def run(args, cwd, env):
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def dvc(project, *args):
    root, env = project
    return run([sys.executable, "-m", "dvc", *args], root, env)


def edit_params(root: Path, section: str, **values):
    path = root / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for key, value in values.items():
        node = params[section]
        *parents, leaf = key.split(".")
        for parent in parents:
            node = node[parent]
        node[leaf] = value if not isinstance(value, dict) else {**node[leaf], **value}
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def ran_stages(output: str) -> set[str]:
    return {stage for stage in ("fetch", "preprocess", "train", "evaluate") if f"Running stage '{stage}'" in output}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of the project in a fresh git repo whose mirror is a directory of tiny synthetic IDX files."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(common.ROOT / "stages", root / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(common.ROOT / name, root / name)
    mirror = tmp_path_factory.mktemp("mirror")
    sums = synthetic.write_dataset(mirror)
    edit_params(root, "fetch", sha256=sums, mirrors=["http://127.0.0.1:9/unreachable/"])
    edit_params(root, "train", **TINY_TRAIN)
    env = {**os.environ, "MNIST_MIRROR": str(mirror), "DVC_NO_ANALYTICS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    run(["git", "init", "-q"], root, env)
    run([sys.executable, "-m", "dvc", "init", "-q"], root, env)
    run(["git", "add", "-A"], root, env)
    run([*git, "commit", "-qm", "project"], root, env)
    project = (root, env)
    output = dvc(project, "repro")
    assert ran_stages(output) == {"fetch", "preprocess", "train", "evaluate"}, output
    return project


def test_repro_writes_outputs_that_load(project):
    root, _ = project
    import keras

    model = keras.models.load_model(root / "models" / "model.h5")
    with np.load(root / "data" / "processed" / "test.npz") as test:
        assert test["x"].shape == (60, 28, 28, 1)
        assert model.predict(test["x"][:5], verbose=0).shape == (5, 10)
    with np.load(root / "data" / "processed" / "val.npz") as val:
        assert val["y"].shape == (20, 10)
    metrics = json.loads((root / "metrics" / "evaluate.json").read_text())
    assert {"accuracy", "loss", "precision_macro", "recall_macro", "f1_macro", "misclassified"} <= set(metrics)
    assert sorted(metrics["per_class_accuracy"]) == [str(d) for d in range(10)]
    training = json.loads((root / "metrics" / "train" / "metrics.json").read_text())
    assert training["epochs_run"] == 2 and 0 <= training["best_val_accuracy"] <= 1 and training["train_time_s"] > 0
    assert "macro avg" in (root / "metrics" / "classification_report.txt").read_text()
    predictions = (root / "plots" / "predictions.csv").read_text().splitlines()
    assert predictions[0] == "actual,predicted" and len(predictions) == 61
    for name in ("confusion_matrix", "training_curves", "per_class_accuracy", "misclassified"):
        assert (root / "plots" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert not list(root.rglob(".tmp-*")), "no temporary files left behind"


def test_metrics_and_plots_commands_need_no_arguments(project):
    shown = json.loads(dvc(project, "metrics", "show", "--json"))
    files = shown["workspace"]["data"]
    assert files["metrics/evaluate.json"]["data"]["accuracy"] >= 0
    assert files["metrics/train/metrics.json"]["data"]["epochs_run"] == 2
    plots = json.loads(dvc(project, "plots", "show", "--json", "--split"))
    ids = set(plots)
    assert {"Accuracy per epoch", "Loss per epoch", "Confusion matrix (test set)"} <= ids, ids
    assert {"plots/confusion_matrix.png", "plots/misclassified.png"} <= ids, ids


def test_a_noop_repro_runs_nothing(project):
    output = dvc(project, "repro")
    assert ran_stages(output) == set(), output
    assert "up to date" in dvc(project, "status")


def test_a_train_param_reruns_only_train_and_evaluate(project):
    root, _ = project
    edit_params(root, "train", epochs=1)
    output = dvc(project, "repro")
    assert ran_stages(output) == {"train", "evaluate"}, output
    assert json.loads((root / "metrics" / "train" / "metrics.json").read_text())["epochs_run"] == 1


def test_an_evaluate_param_reruns_only_evaluate(project):
    root, _ = project
    edit_params(root, "evaluate", misclassified_shown=4)
    status = json.loads(dvc(project, "status", "--json"))
    assert set(status) == {"evaluate"}, status
    assert ran_stages(dvc(project, "repro")) == {"evaluate"}


def test_a_bad_param_fails_with_one_clear_line(project):
    root, env = project
    edit_params(root, "train", learning_rate=-1)
    result = subprocess.run([sys.executable, "-m", "stages.train"], cwd=root, env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: params.yaml: train.learning_rate must be a number > 0 and <= 1, got -1; "
        "fix it in params.yaml or with `dvc exp run -S train.learning_rate=...`"
    )
