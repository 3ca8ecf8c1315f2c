"""Code: each stage's `deps` in dvc.yaml are exactly the project modules its command imports (directly or not),
so that an edit reruns the stages it can change and no others; and the module layout keeps it that way for the
edits that happen most (descriptions, tools, inference)."""

import shutil

import pytest
import yaml

from classifier import paths
from maintenance import stage_deps


def declared_code(stage: dict) -> set[str]:
    return {dep for dep in stage["deps"] if dep.endswith(".py")}


def mismatches(root) -> list[str]:
    """One line per stage and module that dvc.yaml lists but the stage does not import, or the reverse."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    lines = []
    for name, imported in stage_deps.code_deps(root).items():
        listed = declared_code(stages[name])
        lines += [f"stage {name} imports {m} but dvc.yaml does not list it" for m in sorted(imported - listed)]
        lines += [f"stage {name} lists {m} in dvc.yaml but does not import it" for m in sorted(listed - imported)]
    return lines


def test_dvc_yaml_lists_exactly_each_stages_import_closure():
    assert mismatches(paths.ROOT) == []


@pytest.fixture
def copy(tmp_path):
    for name in ("classifier", "stages", "dvc.yaml"):
        source = paths.ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    return tmp_path


def edit_deps(root, stage: str, change) -> None:
    dvc_yaml = yaml.safe_load((root / "dvc.yaml").read_text())
    change(dvc_yaml["stages"][stage]["deps"])
    (root / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))


def test_a_removed_dep_is_named_with_its_stage(copy):
    edit_deps(copy, "evaluate", lambda deps: deps.remove("classifier/inference.py"))
    assert mismatches(copy) == ["stage evaluate imports classifier/inference.py but dvc.yaml does not list it"]


def test_an_unused_dep_is_named_with_its_stage(copy):
    edit_deps(copy, "train", lambda deps: deps.append("classifier/inference.py"))
    assert mismatches(copy) == ["stage train lists classifier/inference.py in dvc.yaml but does not import it"]


def test_an_import_inside_a_function_counts(copy):
    (copy / "classifier" / "extra.py").write_text('"""A module only a function imports."""\n')
    path = copy / "classifier" / "report.py"
    path.write_text(path.read_text() + "\n\ndef late():\n    from classifier import extra  # noqa: F401\n")
    assert mismatches(copy) == ["stage evaluate imports classifier/extra.py but dvc.yaml does not list it"]


@pytest.mark.parametrize(
    ("module", "stages"),
    [
        ("classifier/transform.py", set()),  # the image transform: predict and serve only
        ("classifier/params/evaluate.py", {"params", "evaluate"}),  # an evaluate.* description
        ("classifier/params/train.py", {"params", "train"}),
        ("classifier/inference.py", {"evaluate"}),  # never train
        ("classifier/model.py", {"train"}),
        ("classifier/onnx_export.py", {"export"}),
        ("classifier/keras_model.py", {"export", "evaluate"}),
    ],
)
def test_the_layout_keeps_an_edit_to_the_stages_it_can_change(module, stages):
    dependents = {name for name, code in stage_deps.code_deps(paths.ROOT).items() if module in code}
    assert dependents == stages
