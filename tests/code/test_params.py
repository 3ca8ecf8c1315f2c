"""Units: params.yaml is described once (classifier/params/); from it come the checks with their one-line
errors, the JSON Schema editors use, and the parameter table of docs/parameters.md."""

import json

import pytest
import yaml

from classifier import errors, paths
from classifier.params import checks, sections
from classifier.params.overrides import changed
from maintenance import params_docs


def load_train(tmp_path, monkeypatch, values):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"train": values}))
    monkeypatch.setattr(paths, "PARAMS_PATH", path)
    return checks.load(sections.Train)


def test_the_project_params_are_valid():
    for model in sections.SECTIONS.values():
        checks.load(model)


def test_a_section_gives_typed_nested_values(tmp_path, monkeypatch, train_values):
    p = load_train(tmp_path, monkeypatch, train_values)
    assert p.epochs == 6 and p.learning_rate == 0.01 and p.deterministic is False
    assert p.model.conv_blocks[1].filters == [64] and p.model.conv_blocks[1].padding == "same"
    assert p.early_stopping.monitor == "val_accuracy"
    wider = changed(p, **{"model.width": 0.5, "model.conv_blocks.1.filters": [96]})
    assert (wider.model.width, wider.model.conv_blocks[1].filters, p.model.width) == (0.5, [96], 0.25)


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("epochs", -1, "train.epochs must be an integer >= 1, got -1"),
        ("epochs", 2.5, "train.epochs must be an integer"),
        ("epochs", True, "train.epochs must be an integer"),
        ("learning_rate", 0, "must be a number > 0 and <= 1, got 0"),
        ("label_smoothing", "fast", "must be a number >= 0 and < 1, got 'fast'"),
        ("deterministic", "yes", "must be true or false"),
        ("model.dense_units", [8, 0], "train.model.dense_units must be a list of integers >= 1, got [8, 0]"),
        ("model.conv_blocks.0.filters", [], "must be a non-empty list of integers >= 1"),
        ("model.conv_blocks", [8, 16], "must be a non-empty list of mappings, got [8, 16]"),
        ("model.conv_blocks", [], "must be a non-empty list of mappings"),
        ("early_stopping.monitor", "max", "one of val_accuracy, val_loss"),
    ],
)
def test_bad_values_name_the_parameter_and_the_fix(tmp_path, monkeypatch, train_values, key, value, expected):
    *parents, leaf = key.split(".")
    node = train_values
    for parent in parents:
        node = node[int(parent)] if isinstance(node, list) else node[parent]
    node[leaf] = value
    with pytest.raises(errors.UserError) as err:
        load_train(tmp_path, monkeypatch, train_values)
    message = str(err.value)
    assert expected in message
    assert message.endswith(f"fix it in params.yaml or with `dvc exp run -S train.{key}=...`")
    assert "\n" not in message


def test_missing_and_unknown_parameters_are_errors(tmp_path, monkeypatch, train_values):
    del train_values["model"]["dense_units"]
    with pytest.raises(errors.UserError, match="train.model.dense_units is missing; add it to params.yaml"):
        load_train(tmp_path, monkeypatch, train_values)
    train_values["model"]["dense_units"] = [8]
    train_values["learning_rat"] = 0.1
    with pytest.raises(errors.UserError, match="unknown parameter train.learning_rat; known ones are seed, "):
        load_train(tmp_path, monkeypatch, train_values)
    del train_values["learning_rat"]
    train_values["model"]["widht"] = 2
    with pytest.raises(
        errors.UserError, match="unknown parameter train.model.widht; known ones are width, conv_blocks, batch_norm"
    ):
        load_train(tmp_path, monkeypatch, train_values)


def test_load_reports_missing_file_bad_yaml_and_missing_section(tmp_path):
    with pytest.raises(errors.UserError, match="not found"):
        checks.load(sections.Train, tmp_path / "params.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochs: [1,\n")
    with pytest.raises(errors.UserError, match="not valid YAML at line"):
        checks.load(sections.Train, bad)
    other = tmp_path / "other.yaml"
    other.write_text("evaluate:\n  batch_size: 10\n  misclassified_shown: 4\n")
    with pytest.raises(errors.UserError, match="no `train:` section"):
        checks.load(sections.Train, other)
    assert checks.load(sections.Evaluate, other).batch_size == 10


def test_the_json_schema_is_current_and_params_yaml_points_editors_at_it():
    assert json.loads(params_docs.SCHEMA_PATH.read_text()) == params_docs.schema(), (
        "params.schema.json is stale: run `python -m maintenance.params_docs --write-schema`"
    )
    first_line = paths.PARAMS_PATH.read_text().splitlines()[0]
    assert first_line == f"# yaml-language-server: $schema={params_docs.SCHEMA_PATH.name}"
    train = params_docs.schema()["$defs"]["Train"]
    assert train["additionalProperties"] is False and train["properties"]["learning_rate"]["exclusiveMinimum"] == 0


def meanings(markdown: str) -> dict[str, str]:
    """{parameter: meaning} from the rows of a parameter table (its defaults column left out: an experiment on
    params.yaml changes those)."""
    keys = tuple(f"| `{name}." for name in sections.SECTIONS)
    rows = [line.split(" | ") for line in markdown.splitlines() if line.startswith(keys)]
    return {row[0].removeprefix("| "): row[-1] for row in rows}


def test_the_readme_parameter_table_is_the_one_the_models_give():
    readme = meanings((paths.ROOT / "docs" / "parameters.md").read_text())
    assert readme == meanings(params_docs.table()), (
        "docs/parameters.md's parameter table is stale: paste the output of `python -m maintenance.params_docs --table`"
    )
