"""A copy of the project in a fresh temporary git repo, fed by tiny synthetic IDX files, for DVC tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import yaml

from classifier import paths
from classifier.params.overrides import edit_file
from tests.support import synthetic

STAGES = tuple(yaml.safe_load((paths.ROOT / "dvc.yaml").read_text())["stages"])  # in dvc.yaml's order
# The longest a test's command may take: minutes for a pipeline on tiny data even on a slow CI machine.
COMMAND_TIMEOUT_S = 900
# What `make test` passes down to the tests: a `make` the project runs would count itself a sub-make of it (and
# print "make[1]: Entering directory ...", as CI's `.ci/run` -> `make test` did), so the project never sees them
OUTER_MAKE = ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES", "MAKE_TERMOUT", "MAKE_TERMERR")


class Project:
    """A project in a temporary git repo. `home`, when given, is its user's home: the default DVC remote
    (~/.cache/dvc-remotes/...) then lives there, so that clones sharing a home share the remote."""

    def __init__(self, root: Path, mirror: Path, home: Path | None = None):
        self.root = root
        self.mirror = mirror
        self.home = home
        self.env = {
            **{key: value for key, value in os.environ.items() if key not in OUTER_MAKE},
            "MNIST_MIRROR": str(mirror),
            "DVC_NO_ANALYTICS": "1",
            "COLUMNS": "1000",  # DVC wraps its tables at 80 columns off a terminal: a long temporary path broke in two
            "SHELL": "/bin/sh",  # DVC runs a stage's command through $SHELL: the shell CI has, whatever the user's is
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
        if home:
            self.env["HOME"] = str(home)

    def run(self, *args: str, check: bool = True, timeout_s: float = COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess:
        """Run `args` in the project; a command that has not finished in `timeout_s` fails the test, with its
        output so far (a hang must not eat CI's whole time budget)."""
        try:
            result = subprocess.run(
                args, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout_s
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"{' '.join(args)} did not finish in {timeout_s:.0f} s:\n{exc.stdout}\n{exc.stderr}")
        if check:
            assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def start(self, *args: str, **popen: object) -> subprocess.Popen:
        """Start `args` in the project in the background, for a test that interrupts it."""
        return subprocess.Popen(args, cwd=self.root, env=self.env, **popen)

    def dvc(self, *args: str) -> str:
        return self.run(sys.executable, "-m", "dvc", *args).stdout

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-qm", message)

    def edit_params(self, section: str, **values) -> None:
        """Set `values` of params.yaml's `section`; nested keys dotted: `edit_params("train", **{"model.width": 1})`."""
        edit_file(self.root / "params.yaml", {f"{section}.{key}": value for key, value in values.items()})

    def clone(self, url: str, root: Path) -> Project:
        """A fresh `git clone` of `url` at `root`, as a teammate on this machine (same home) would make."""
        self.run("git", "clone", "-q", url, str(root))
        return Project(root, self.mirror, self.home)


def ran_stages(output: str) -> set[str]:
    return {stage for stage in STAGES if f"Running stage '{stage}'" in output}


def new_project(root: Path, mirror: Path, home: Path | None = None, classes: list[str] | None = None) -> Project:
    """Copy the project into `root`, make `mirror` a tiny synthetic dataset (of `classes`, MNIST's ten digits by
    default), git init + dvc init + commit; with `home`, the project's own .dvc/config (its default remote) too,
    resolved under that home."""
    synthetic.copy_project(root, mirror, classes=classes or synthetic.MNIST.classes)
    project = Project(root, mirror, home)
    project.run("git", "init", "-q", "-b", "main")
    project.dvc("init", "-q")
    if home:
        shutil.copy(paths.ROOT / ".dvc" / "config", root / ".dvc" / "config")
    project.commit("project")
    return project


def still_running(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those of `processes` that run on: neither gone nor dead and waiting to be reaped (a zombie: an orphan's new
    parent may reap it late)."""
    running = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
    return running
