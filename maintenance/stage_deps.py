"""Each stage's code dependencies, computed: the project modules its command imports, directly or not.

dvc.yaml lists exactly these under each stage's `deps` (tests/code/test_stage_deps.py checks it), so an edit
reruns only the stages that import what changed. Imports inside functions count; only the project's own
packages (classifier, stages) are followed.

Usage: python -m maintenance.stage_deps           prints each stage's code deps, as dvc.yaml lists them
       python -m maintenance.stage_deps --write   rewrites the code deps in dvc.yaml (its data deps stay)
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import yaml

from classifier import files, paths
from classifier.errors import run

PACKAGES = ("classifier", "stages")


def module_file(name: str, root: Path) -> Path | None:
    """The file of module `name` (a.b.c) under root: a/b/c.py or a/b/c/__init__.py; None if it is not one."""
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported(path: Path) -> set[str]:
    """Every module name that `path` imports anywhere in it, with its parent packages."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    parents = {".".join(name.split(".")[:i]) for name in names for i in range(1, name.count(".") + 1)}
    return names | parents


def closure(module: str, root: Path = paths.ROOT) -> set[str]:
    """The files (relative to root, as dvc.yaml writes them) of `module` and of every project module it imports."""
    seen: set[Path] = set()
    todo = [module, *(".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1))]
    while todo:
        name = todo.pop()
        if name.split(".")[0] not in PACKAGES:
            continue
        path = module_file(name, root)
        if path is None or path in seen:
            continue
        seen.add(path)
        todo += imported(path)
    return {path.relative_to(root).as_posix() for path in seen}


def stage_module(command: str) -> str:
    """The module a stage's command runs: `exec python -m stages.train` -> stages.train."""
    words = command.split()
    return words[words.index("-m") + 1]


def code_deps(root: Path = paths.ROOT) -> dict[str, set[str]]:
    """{stage: the code files its command imports}, for every stage in dvc.yaml."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    return {name: closure(stage_module(stage["cmd"]), root) for name, stage in stages.items()}


def with_code_deps(text: str, deps: dict[str, set[str]]) -> str:
    """dvc.yaml's `text` with each stage's .py deps replaced by `deps[stage]`, sorted, before its other deps;
    comments and everything else kept as they are."""
    lines, out, stage = text.split("\n"), [], None
    index = 0
    while index < len(lines):
        line = lines[index]
        named = re.match(r"^  (\w+):$", line)
        if named:
            stage = named.group(1)
        out.append(line)
        index += 1
        if line == "    deps:" and stage in deps:
            data = []
            while index < len(lines) and lines[index].startswith("      - "):
                if not lines[index].endswith(".py"):
                    data.append(lines[index])
                index += 1
            out += [f"      - {file}" for file in sorted(deps[stage])] + data
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the code deps in dvc.yaml")
    args = parser.parse_args(argv)
    deps = code_deps()
    if args.write:
        path = paths.ROOT / "dvc.yaml"
        files.write_text(path, with_code_deps(path.read_text(), deps))
        print(f"wrote the code deps of {len(deps)} stages in dvc.yaml")
        return
    for stage, modules in deps.items():
        print(f"{stage}:")
        for module in sorted(modules):
            print(f"  - {module}")


if __name__ == "__main__":
    sys.exit(run(main))
