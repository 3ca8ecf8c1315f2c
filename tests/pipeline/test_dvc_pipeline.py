"""Pipeline: the real `dvc repro` end to end, in a temporary git repo, on tiny synthetic IDX files."""

import json
import sys

import numpy as np
import pytest
import yaml

from tests.support.project import STAGES, new_project, ran_stages


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = new_project(tmp_path_factory.mktemp("project"), tmp_path_factory.mktemp("mirror"))
    output = project.dvc("repro")
    assert ran_stages(output) == set(STAGES), output
    return project


def test_repro_writes_outputs_that_load(project):
    root = project.root
    import keras

    model = keras.models.load_model(root / "models" / "model.h5")
    with np.load(root / "data" / "processed" / "test.npz") as test:
        assert test["x"].shape == (60, 28, 28, 1)
        assert model.predict(test["x"][:5], verbose=0).shape == (5, 10)
    val_fraction = yaml.safe_load((root / "params.yaml").read_text())["preprocess"]["val_fraction"]
    with np.load(root / "data" / "processed" / "val.npz") as val:
        assert val["y"].shape == (round(200 * val_fraction), 10), "a stratified share of the 200 training digits"
    metrics = json.loads((root / "metrics" / "evaluate.json").read_text())
    assert {"accuracy", "loss", "precision_macro", "recall_macro", "f1_macro", "misclassified"} <= set(metrics)
    assert metrics["accuracy"] >= 0.8, "the tiny task is learnable: the pipeline trained a model, not a guess"
    assert metrics["onnx_vs_keras"]["other_class"] == 0, "the ONNX file gives the Keras model's class everywhere"
    assert metrics["onnx_vs_keras"]["max_probability_difference"] <= 1e-5
    assert sorted(metrics["per_class_accuracy"]) == [str(d) for d in range(10)]
    training = json.loads((root / "metrics" / "train" / "metrics.json").read_text())
    assert (
        training["epochs_run"] == 2 and 0 <= training["best_epoch_val_accuracy"] <= 1 and training["train_time_s"] > 0
    )
    report = (root / "plots" / "classification_report.csv").read_text().splitlines()
    assert report[0] == "class,precision,recall,f1,support" and len(report) == 11
    environment = json.loads((root / "metrics" / "train" / "environment.json").read_text())
    assert environment["cores"] >= 1 and environment["tensorflow"] and environment["keras"].startswith("3.")
    predictions = (root / "plots" / "predictions.csv").read_text().splitlines()
    assert predictions[0] == "actual,predicted" and len(predictions) == 61
    for name in ("confusion_matrix", "training_curves", "per_class_accuracy", "misclassified"):
        assert (root / "plots" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert not list(root.rglob(".tmp-*")), "no temporary files left behind"


def test_metrics_and_plots_commands_need_no_arguments(project):
    shown = json.loads(project.dvc("metrics", "show", "--json"))
    files = next(iter(shown.values()))["data"]  # the workspace
    assert files["metrics/evaluate.json"]["data"]["accuracy"] >= 0.8
    assert files["metrics/train/metrics.json"]["data"]["epochs_run"] == 2
    ids = set(json.loads(project.dvc("plots", "show", "--json", "--split"))["data"])
    history = {
        f"metrics/train/plots/metrics/{split}/{metric}.tsv"
        for split in ("train", "eval")
        for metric in ("accuracy", "loss")
    }
    images = {
        f"plots/{name}.png" for name in ("confusion_matrix", "training_curves", "per_class_accuracy", "misclassified")
    }
    assert ids == history | images | {"plots/predictions.csv", "plots/classification_report.csv"}, ids


def test_an_export_of_the_same_model_gives_the_same_bytes_and_reruns_nothing_after_it(project):
    project.dvc("repro")  # whatever ran before: up to date
    onnx = project.root / "models" / "model.onnx"
    before = onnx.read_bytes()
    output = project.dvc("repro", "--force", "--single-item", "export")
    assert ran_stages(output) == {"export"}, output
    assert onnx.read_bytes() == before
    assert ran_stages(project.dvc("repro")) == set(), "an unchanged ONNX file reruns nothing downstream"


def test_a_noop_repro_runs_nothing(project):
    output = project.dvc("repro")
    assert ran_stages(output) == set(), output
    assert "up to date" in project.dvc("status")


def test_same_params_give_the_same_results(project):
    def results():
        history = (project.root / "metrics" / "train" / "plots" / "metrics" / "eval" / "loss.tsv").read_text()
        return (project.root / "metrics" / "evaluate.json").read_text(), history

    before = results()
    project.dvc("repro", "--force", "--single-item", "train")
    project.dvc("repro", "--force", "--single-item", "evaluate")
    assert results() == before


def test_a_train_param_reruns_only_the_params_check_train_export_and_evaluate(project):
    project.edit_params("train", epochs=1)
    output = project.dvc("repro")
    assert ran_stages(output) == {"params", "train", "export", "evaluate"}, output
    assert "Stage 'fetch' didn't change, skipping" in output, "the params stage's mark is the same after a change"
    assert json.loads((project.root / "metrics" / "train" / "metrics.json").read_text())["epochs_run"] == 1


def test_an_evaluate_param_reruns_only_the_params_check_and_evaluate(project):
    project.edit_params("evaluate", misclassified_shown=4)
    status = json.loads(project.dvc("status", "--json"))
    assert set(status) == {"params", "evaluate"}, status
    assert ran_stages(project.dvc("repro")) == {"params", "evaluate"}


def test_a_bad_param_fails_with_one_clear_line(project):
    project.edit_params("train", learning_rate=-1)
    try:
        result = project.run(sys.executable, "-m", "stages.train", check=False)
    finally:
        project.edit_params("train", learning_rate=0.003)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: params.yaml: train.learning_rate must be a number > 0 and <= 1, got -1; "
        "fix it in params.yaml or with `dvc exp run -S train.learning_rate=...`"
    )


def reword(path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new, 1))


# Edits that happen often, each with the stages `dvc status` must then name (and no others): tool-only code reruns
# nothing, a parameter's description reruns the params check and its own section's stage, inference code reruns
# evaluate but never train.
EDITS = [
    ("classifier/transform.py", "a photo or scan", "a photograph or scan", set()),
    ("tools/serve.py", "draw a digit", "draw one digit", set()),
    ("classifier/params/evaluate.py", '"prediction batch size"', '"batch size of prediction"', {"params", "evaluate"}),
    ("classifier/params/train.py", '"label smoothing of', '"the label smoothing of', {"params", "train"}),
    ("classifier/inference.py", "The model people run", "The model that people run", {"evaluate"}),
    ("classifier/onnx_export.py", "Exporting the trained", "Exporting the fitted", {"export"}),
]


@pytest.mark.parametrize(("path", "old", "new", "stale"), EDITS, ids=[edit[0] for edit in EDITS])
def test_an_edit_makes_stale_only_the_stages_that_import_it(project, path, old, new, stale):
    project.dvc("repro")  # whatever ran before: up to date
    file = project.root / path
    original = file.read_text()
    reword(file, old, new)
    try:
        status = json.loads(project.dvc("status", "--json"))
    finally:
        file.write_text(original)
    assert set(status) == stale, status
