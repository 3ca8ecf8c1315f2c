"""Fail when dvc.lock does not match the code, params and dvc.yaml, naming the stage and the file.

Usage: python -m maintenance.check_lock [REPO]   (`make check-lock` before a commit; CI runs it on its fresh clone)

A change to a stage's code, params or dvc.yaml must be committed with the `dvc repro` that follows it, or a
fresh clone finds every stage changed and retrains. This asks DVC's own `dvc status` and keeps what a
missing cache cannot explain, so it works on a fresh clone with an empty cache: the dataset and the model
(cached outputs, absent until `dvc pull`) are skipped while absent and checked when present. Everything in
git is checked: each stage's command, code and params, and its metrics and plots, which must be exactly
what dvc.lock records; a file under metrics/ or plots/ that git tracks but no stage writes is an error too.
Exit 0 when all match, 1 with one line per mismatch otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
from pathlib import Path

import yaml

from classifier import errors, paths

ABSENT = ("deleted", "not in cache")  # what `dvc status` says of a cached file that is not in the workspace
REVIEW_DIRS = ("metrics", "plots")
FIX = "run `dvc repro` and commit dvc.lock with metrics/ and plots/"


def declared_outputs(repo) -> tuple[list[Path], list[Path]]:
    """Paths (relative to the repo) of the stages' cached outputs and of their git-tracked ones."""
    cached, in_git = [], []
    for stage in repo.index.stages:
        for out in stage.outs:
            (cached if out.use_cache else in_git).append(Path(out.def_path))
    return cached, in_git


def within(path: Path, outputs: list[Path]) -> bool:
    return any(path == out or path.is_relative_to(out) for out in outputs)


def leaves(node, prefix: str) -> dict[str, object]:
    """A nested params value as {dotted key: leaf}, lists indexed as `dvc exp run -S` does."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else None
    if items is None:
        return {prefix: node}
    return {key: leaf for k, v in items for key, leaf in leaves(v, f"{prefix}.{k}").items()} or {prefix: node}


def changed_params(root: Path, stage: str, path: str, section: str) -> list[str]:
    """The leaf keys of a params section whose values differ from those dvc.lock recorded for `stage`."""
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    locked = lock["stages"].get(stage, {}).get("params", {}).get(path, {})
    current = yaml.safe_load((root / path).read_text()) or {}
    old, new = leaves(locked.get(section), section), leaves(current.get(section), section)
    return sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key)) or [section]


def status_problems(status: dict, cached: list[Path], root: Path) -> list[str]:
    """`dvc status` entries, less those of cached files that are simply absent (a fresh clone)."""
    found = []
    for stage, changes in status.items():
        problems = []
        for change in changes:
            if isinstance(change, str):  # "changed command", "always changed"
                problems.append(f"{change} in dvc.yaml")
                continue
            for entries in change.values():  # "changed deps" / "changed outs": path -> state
                for path, state in entries.items():
                    if isinstance(state, dict):  # a params file: section -> state
                        problems += [
                            f"{path} {key} {what}"
                            for section, what in state.items()
                            for key in changed_params(root, stage, path, section)
                        ]
                    elif not (state in ABSENT and within(Path(path), cached) and not (root / path).exists()):
                        problems.append(f"{path} {state}")
        found += [f"dvc.lock is stale for stage '{stage}': {problem}; {FIX}" for problem in problems]
    return found


def untracked_review_files(root: Path, in_git: list[Path]) -> list[str]:
    """Files under metrics/ and plots/ that git tracks but no stage declares."""
    listed = subprocess.run(["git", "ls-files", "--", *REVIEW_DIRS], cwd=root, capture_output=True, text=True)
    if listed.returncode != 0:
        raise errors.UserError(f"{root} is not a git repository; run the check in a clone of the project")
    return [
        f"{path} is tracked by git but no stage in dvc.yaml writes it; `git rm` it or declare it in dvc.yaml"
        for path in map(Path, listed.stdout.split())
        if path.name != ".gitignore" and not within(path, in_git)
    ]


def problems(root: Path) -> list[str]:
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with contextlib.chdir(root), Repo(str(root)) as repo:  # from inside, status names stages plainly
            cached, in_git = declared_outputs(repo)
            status = repo.status()
    except DvcException as exc:
        raise errors.UserError(f"DVC cannot read the project at {root} ({exc}); fix dvc.yaml or dvc.lock")
    return status_problems(status, cached, root) + untracked_review_files(root, in_git)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", nargs="?", type=Path, default=paths.ROOT, help="project to check (default: this one)")
    found = problems(parser.parse_args(argv).repo.resolve())
    if found:
        raise errors.UserError("\nerror: ".join(found))
    print("dvc.lock matches the code, params, dvc.yaml, metrics/ and plots/")


if __name__ == "__main__":
    sys.exit(errors.run(main))
