"""A copy of the project in a fresh temporary git repo, fed by tiny synthetic IDX files, for DVC tests."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from stages import common
from tests import synthetic

COPIED = ("stages", "tools", "dvc.yaml", "params.yaml", ".gitignore")
TINY_TRAIN = {"epochs": 2, "batch_size": 32, "warmup_epochs": 0, "deterministic": True,
              "model": {"width": 0.125}}
STAGES = ("fetch", "preprocess", "train", "evaluate")


class Project:
    """A project in a temporary git repo. `home`, when given, is its user's home: the default DVC remote
    (~/.cache/dvc-remotes/...) then lives there, so that clones sharing a home share the remote."""

    def __init__(self, root: Path, mirror: Path, home: Path | None = None):
        self.root = root
        self.mirror = mirror
        self.home = home
        self.env = {**os.environ, "MNIST_MIRROR": str(mirror), "DVC_NO_ANALYTICS": "1",
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        if home:
            self.env["HOME"] = str(home)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(args, cwd=self.root, env=self.env, capture_output=True, text=True)
        if check:
            assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def dvc(self, *args: str) -> str:
        return self.run(sys.executable, "-m", "dvc", *args).stdout

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-qm", message)

    def edit_params(self, section: str, **values) -> None:
        path = self.root / "params.yaml"
        params = yaml.safe_load(path.read_text())
        for key, value in values.items():
            node = params[section]
            *parents, leaf = key.split(".")
            for parent in parents:
                node = node[parent]
            node[leaf] = {**node[leaf], **value} if isinstance(value, dict) else value
        path.write_text(yaml.safe_dump(params, sort_keys=False))


    def clone(self, url: str, root: Path) -> Project:
        """A fresh `git clone` of `url` at `root`, as a teammate on this machine (same home) would make."""
        self.run("git", "clone", "-q", url, str(root))
        return Project(root, self.mirror, self.home)


def ran_stages(output: str) -> set[str]:
    return {stage for stage in STAGES if f"Running stage '{stage}'" in output}


def new_project(root: Path, mirror: Path, home: Path | None = None) -> Project:
    """Copy the project into `root`, make `mirror` a tiny synthetic dataset, git init + dvc init + commit;
    with `home`, the project's own .dvc/config (its default remote) too, resolved under that home."""
    for name in COPIED:
        source = common.ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, root / name)
    project = Project(root, mirror, home)
    sums = synthetic.write_dataset(mirror)
    project.edit_params("fetch", sha256=sums, mirrors=["http://127.0.0.1:9/unreachable/"])
    project.edit_params("train", **TINY_TRAIN)
    project.run("git", "init", "-q", "-b", "main")
    project.dvc("init", "-q")
    if home:
        shutil.copy(common.ROOT / ".dvc" / "config", root / ".dvc" / "config")
    project.commit("project")
    return project
