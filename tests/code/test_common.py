"""Units: atomic writes, the one-line error, and one home for every output path (dvc.yaml agrees)."""

import pytest
import yaml

from stages import common, params


def test_atomic_path_leaves_nothing_when_the_write_fails(tmp_path):
    target = tmp_path / "out" / "metrics.json"
    with pytest.raises(RuntimeError):
        with common.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert list(target.parent.iterdir()) == []
    common.write_json(target, {"accuracy": 1.0})
    assert target.read_text() == '{\n  "accuracy": 1.0\n}\n'
    assert [p.name for p in target.parent.iterdir()] == ["metrics.json"]


def test_run_turns_pipeline_errors_into_one_line_and_exit_code_1(capsys):
    def failing():
        raise common.UserError("data/raw is missing; run fetch")

    assert common.run(failing) == 1
    assert capsys.readouterr().err == "error: data/raw is missing; run fetch\n"
    assert common.run(lambda: None) == 0


def declared(stage: dict, kinds=("outs", "metrics", "plots")) -> set[str]:
    return {next(iter(entry)) if isinstance(entry, dict) else entry for kind in kinds for entry in stage.get(kind, [])}


def test_dvc_yaml_declares_the_outputs_and_inputs_that_the_stages_write_and_read():
    stages = yaml.safe_load((common.ROOT / "dvc.yaml").read_text())["stages"]
    assert tuple(stages) == common.STAGES

    def rel(*paths):
        return {path.relative_to(common.ROOT).as_posix() for path in paths}

    assert declared(stages["params"]) == rel(common.PARAMS_CHECKED)
    assert stages["params"]["params"] == list(params.SECTIONS), "the params stage checks every section"
    assert rel(common.PARAMS_CHECKED) <= set(stages["fetch"]["deps"]), "it runs before every other stage"
    assert declared(stages["fetch"]) == rel(common.RAW_DIR)
    assert declared(stages["preprocess"]) == rel(common.PROCESSED_DIR)
    assert declared(stages["train"]) == rel(
        common.MODEL_PATH, common.ENVIRONMENT_PATH, common.TRAIN_METRICS_PATH, common.HISTORY_DIR
    )
    assert declared(stages["evaluate"]) == rel(
        common.EVAL_METRICS_PATH,
        common.PREDICTIONS_PATH,
        common.CLASSIFICATION_REPORT_PATH,
        common.CONFUSION_MATRIX_PNG,
        common.TRAINING_CURVES_PNG,
        common.PER_CLASS_ACCURACY_PNG,
        common.MISCLASSIFIED_PNG,
    )
    assert rel(common.processed_path("train"), common.processed_path("val")) <= set(stages["train"]["deps"])
    assert rel(common.MODEL_PATH, common.processed_path("test"), common.HISTORY_DIR) <= set(stages["evaluate"]["deps"])
    for name, stage in stages.items():
        assert stage["cmd"].startswith(f"exec python -m stages.{name}"), "no shell stays between DVC and the stage"
        assert {"stages/__init__.py", "stages/common.py", "stages/params.py", f"stages/{name}.py"} <= set(
            stage["deps"]
        ), name
    for name in params.SECTIONS:
        assert stages[name]["params"] == [name], "each stage after params declares exactly its own section"
