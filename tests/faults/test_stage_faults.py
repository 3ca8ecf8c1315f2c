"""Faults, with real processes on tiny data: a `dvc repro` killed with SIGKILL leaves no stage running, and a
full disk (a real ENOSPC from the kernel, written through /dev/full) is one line that names the file and the
fix, leaves nothing half-written, and the next `dvc repro` finishes clean."""

import json
import signal
import subprocess
import sys
import time

import psutil
import pytest

from stages import common
from tests.project import new_project


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = new_project(tmp_path_factory.mktemp("project"), tmp_path_factory.mktemp("mirror"))
    project.dvc("repro")
    return project


def stage_processes(project, name: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        if process.info["cwd"] == str(project.root) and f"stages.{name}" in " ".join(process.info["cmdline"] or []):
            found.append(process)
    return found


def test_a_killed_dvc_repro_takes_its_running_stage_with_it(project):
    project.edit_params("train", epochs=1000)  # long enough to be killed mid-run
    repro = project.start(sys.executable, "-m", "dvc", "repro", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (training := stage_processes(project, "train")) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert training, "the train stage started"
    time.sleep(5)
    repro.send_signal(signal.SIGKILL)
    repro.wait()
    gone, alive = psutil.wait_procs(training, timeout=30)
    assert not alive, "the train stage died with dvc instead of running on as an orphan"
    project.edit_params("train", epochs=2)
    project.dvc("repro")  # reruns train, or restores it from the run cache: either way the outputs are back
    assert (project.root / common.MODEL_PATH.relative_to(common.ROOT)).is_file()
    assert json.loads(project.dvc("status", "--json")) == {}


def test_a_full_disk_is_one_line_and_leaves_the_good_output_in_place(project):
    metrics = project.root / common.EVAL_METRICS_PATH.relative_to(common.ROOT)
    before = metrics.read_text()
    tmp = metrics.with_name(f".tmp-{metrics.name}")
    tmp.symlink_to("/dev/full")  # the stage's temporary file: every write to it fails with ENOSPC
    result = project.run(sys.executable, "-m", "stages.evaluate", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: No space left on device: {metrics}; free some disk space and run it again"
    )
    assert metrics.read_text() == before, "the earlier output is untouched"
    assert not tmp.exists() and not tmp.is_symlink(), "nothing half-written is left"
    project.dvc("repro")
    assert json.loads(project.dvc("status", "--json")) == {}
