"""Units: parameter loading and checking, and atomic writes."""
import pytest

from stages import common


def section(values):
    return common.Section("train", values)


def test_getters_return_checked_values():
    s = section({"epochs": 3, "rate": 0.5, "flag": True, "model": {"filters": [8, 16], "padding": "same"},
                 "blocks": [{"filters": [8]}, {"filters": [16, 16]}]})
    assert s.int("epochs", lo=1) == 3
    assert s.float("rate", lo=0, hi=1, lo_open=True) == 0.5
    assert s.bool("flag") is True
    assert s.int_list("model.filters") == [8, 16]
    blocks = s.sections("blocks")
    assert [b.name for b in blocks] == ["train.blocks.0", "train.blocks.1"]
    assert blocks[1].int_list("filters") == [16, 16]
    assert s.choice("model.padding", ("valid", "same")) == "same"
    s.check_no_unknown()


@pytest.mark.parametrize("key, value, call, expected", [
    ("epochs", -1, lambda s: s.int("epochs", lo=1), "train.epochs must be an integer >= 1, got -1"),
    ("epochs", 2.5, lambda s: s.int("epochs", lo=1), "must be an integer"),
    ("epochs", True, lambda s: s.int("epochs", lo=1), "must be an integer"),
    ("rate", 0, lambda s: s.float("rate", lo=0, hi=1, lo_open=True), "must be a number > 0 and <= 1, got 0"),
    ("rate", "fast", lambda s: s.float("rate", lo=0), "must be a number >= 0, got 'fast'"),
    ("flag", "yes", lambda s: s.bool("flag"), "must be true or false"),
    ("filters", [], lambda s: s.int_list("filters"), "non-empty list of integers >= 1"),
    ("filters", [8, 0], lambda s: s.int_list("filters"), "non-empty list of integers >= 1"),
    ("blocks", [8, 16], lambda s: s.sections("blocks"), "must be a non-empty list of mappings, got [8, 16]"),
    ("blocks", [], lambda s: s.sections("blocks"), "must be a non-empty list of mappings"),
    ("mode", "max", lambda s: s.choice("mode", ("val_loss", "val_accuracy")), "one of val_loss, val_accuracy"),
])
def test_bad_values_name_the_parameter_and_the_fix(key, value, call, expected):
    with pytest.raises(common.PipelineError) as err:
        call(section({key: value}))
    message = str(err.value)
    assert expected in message
    assert f"dvc exp run -S train.{key}=" in message
    assert "\n" not in message


def test_missing_and_unknown_parameters_are_errors():
    with pytest.raises(common.PipelineError, match="train.model.filters is missing"):
        section({"model": {}}).int_list("model.filters")
    s = section({"epochs": 1, "learning_rat": 0.1})
    s.int("epochs")
    with pytest.raises(common.PipelineError, match="unknown parameter train.learning_rat"):
        s.check_no_unknown()
    nested = section({"model": {"filters": [8], "filtrs": [16]}, "sha256": {"a.gz": "x", "b.gz": "y"}})
    nested.int_list("model.filters")
    nested.mapping("sha256")
    with pytest.raises(common.PipelineError, match="unknown parameter train.model.filtrs; known ones are "
                                                   "model.filters, sha256"):
        nested.check_no_unknown()


def test_load_section_reports_missing_file_bad_yaml_and_missing_section(tmp_path):
    with pytest.raises(common.PipelineError, match="not found"):
        common.load_section("train", tmp_path / "params.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochs: [1,\n")
    with pytest.raises(common.PipelineError, match="not valid YAML at line"):
        common.load_section("train", bad)
    other = tmp_path / "other.yaml"
    other.write_text("evaluate:\n  batch_size: 10\n")
    with pytest.raises(common.PipelineError, match="no `train:` section"):
        common.load_section("train", other)
    assert common.load_section("evaluate", other).int("batch_size") == 10


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
        raise common.PipelineError("data/raw is missing; run fetch")
    assert common.run(failing) == 1
    assert capsys.readouterr().err == "error: data/raw is missing; run fetch\n"
    assert common.run(lambda: None) == 0
