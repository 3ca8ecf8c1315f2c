"""Units: atomic writes, the one-line error, and one home for every output path (dvc.yaml agrees)."""

import pytest
import yaml

from classifier import errors, files, paths
from classifier.params import sections


def test_atomic_path_leaves_nothing_when_the_write_fails(tmp_path):
    target = tmp_path / "out" / "metrics.json"
    with pytest.raises(RuntimeError):
        with files.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert list(target.parent.iterdir()) == []
    files.write_json(target, {"accuracy": 1.0})
    assert target.read_text() == '{\n  "accuracy": 1.0\n}\n'
    assert [p.name for p in target.parent.iterdir()] == ["metrics.json"]


def test_run_turns_pipeline_errors_into_one_line_and_exit_code_1(capsys):
    def failing():
        raise errors.UserError("data/raw is missing; run fetch")

    assert errors.run(failing) == 1
    assert capsys.readouterr().err == "error: data/raw is missing; run fetch\n"
    assert errors.run(lambda: None) == 0


def declared(stage: dict, kinds=("outs", "metrics", "plots")) -> set[str]:
    return {next(iter(entry)) if isinstance(entry, dict) else entry for kind in kinds for entry in stage.get(kind, [])}


def test_dvc_yaml_declares_the_outputs_and_inputs_that_the_stages_write_and_read():
    stages = yaml.safe_load((paths.ROOT / "dvc.yaml").read_text())["stages"]
    assert all((paths.ROOT / "stages" / f"{name}.py").is_file() for name in stages), "stages/<name>.py each"

    def rel(*files):
        return {path.relative_to(paths.ROOT).as_posix() for path in files}

    assert declared(stages["params"]) == rel(paths.PARAMS_CHECKED)
    assert stages["params"]["params"] == list(sections.SECTIONS), "the params stage checks every section"
    assert rel(paths.PARAMS_CHECKED) <= set(stages["fetch"]["deps"]), "it runs before every other stage"
    assert declared(stages["fetch"]) == rel(paths.RAW_DIR)
    assert declared(stages["preprocess"]) == rel(paths.PROCESSED_DIR)
    assert declared(stages["train"]) == rel(
        paths.MODEL_PATH, paths.ENVIRONMENT_PATH, paths.TRAIN_METRICS_PATH, paths.HISTORY_DIR
    )
    assert declared(stages["export"]) == rel(paths.ONNX_PATH)
    assert rel(paths.MODEL_PATH) <= set(stages["export"]["deps"])
    assert declared(stages["evaluate"]) == rel(
        paths.EVAL_METRICS_PATH,
        paths.PREDICTIONS_PATH,
        paths.CLASSIFICATION_REPORT_PATH,
        paths.CONFUSION_MATRIX_PNG,
        paths.TRAINING_CURVES_PNG,
        paths.PER_CLASS_ACCURACY_PNG,
        paths.MISCLASSIFIED_PNG,
    )
    assert rel(paths.processed_path("train"), paths.processed_path("val")) <= set(stages["train"]["deps"])
    evaluated = rel(paths.ONNX_PATH, paths.MODEL_PATH, paths.processed_path("test"), paths.HISTORY_DIR)
    assert evaluated <= set(stages["evaluate"]["deps"]), "it scores the ONNX file and checks it against the .h5"
    for name, stage in stages.items():
        assert stage["cmd"].startswith(f"exec python -m stages.{name}"), "no shell stays between DVC and the stage"
    readers = {
        "fetch": [],
        "preprocess": ["dataset"],
        "train": ["dataset"],
        "export": ["dataset"],
        "evaluate": ["dataset"],
    }
    for name, sections_read in readers.items():
        own = [name] if name in sections.SECTIONS else []
        assert stages[name].get("params", []) == sections_read + own, (
            "its own section and the dataset's, if it reads it"
        )
