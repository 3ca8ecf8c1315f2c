"""Faults, with real processes on tiny data: a `dvc repro` killed with SIGKILL leaves no stage running; a bad
parameter of any kind, given to `dvc repro` or `dvc exp run -S`, costs no earlier output; and a full disk (a
real ENOSPC from the kernel, written through /dev/full) or a read-only output folder (a read-only mount) is
one line that names the file and the fix, leaves nothing half-written, and the next `dvc repro` finishes
clean."""

import hashlib
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


OUTPUT_DIRS = ("data", "models", "metrics", "plots")
# One bad value of each kind, in each stage's section: out of range, of the wrong type, an unknown key, a
# missing entry, a wrong choice; each with the start of the one line that names it.
BAD_PARAMS = [
    ("fetch", {"timeout_s": -1}, "fetch.timeout_s must be a number > 0"),
    ("preprocess", {"val_fraction": "a tenth"}, "preprocess.val_fraction must be a number"),
    ("train", {"learning_rate": -1}, "train.learning_rate must be a number > 0 and <= 1, got -1"),
    ("train", {"model.widht": 2}, "unknown parameter train.model.widht"),
    ("train", {"early_stopping.monitor": "max"}, "train.early_stopping.monitor must be one of"),
    ("evaluate", {"batch_size": 0}, "evaluate.batch_size must be an integer >= 1"),
]


def outputs(project) -> dict[str, str]:
    """Every stage output in the workspace (but the params stage's mark), as path -> SHA-256 of its bytes."""
    return {
        path.relative_to(project.root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in OUTPUT_DIRS
        for path in sorted((project.root / folder).rglob("*"))
        if path.is_file() and path != project.root / common.PARAMS_CHECKED.relative_to(common.ROOT)
    }


@pytest.mark.parametrize(("section", "values", "expected"), BAD_PARAMS, ids=lambda v: str(v)[:30])
def test_a_bad_param_leaves_every_earlier_output_in_place(project, section, values, expected):
    before = outputs(project)
    params_yaml = (project.root / "params.yaml").read_text()
    project.edit_params(section, **values)
    failed = project.run(sys.executable, "-m", "dvc", "repro", check=False)
    assert failed.returncode != 0
    error = next(line for line in failed.stderr.splitlines() if line.startswith("error: "))
    assert error.startswith(f"error: params.yaml: {expected}"), failed.stderr
    assert outputs(project) == before, "DVC deleted no output of any stage: the params stage refused it first"
    (project.root / "params.yaml").write_text(params_yaml)
    project.dvc("repro")
    assert outputs(project) == before
    assert json.loads(project.dvc("status", "--json")) == {}


def test_a_bad_param_given_to_dvc_exp_run_leaves_every_earlier_output_in_place(project):
    before = outputs(project)
    failed = project.run(sys.executable, "-m", "dvc", "exp", "run", "-S", "train.epochs=0", check=False)
    assert failed.returncode != 0
    assert "error: params.yaml: train.epochs must be an integer >= 1, got 0" in failed.stderr, failed.stderr
    assert outputs(project) == before
    project.run("git", "checkout", "--", "params.yaml")
    project.dvc("repro")
    assert json.loads(project.dvc("status", "--json")) == {}


@pytest.mark.parametrize(
    ("stage", "output"),
    [("preprocess", common.processed_path("train")), ("evaluate", common.EVAL_METRICS_PATH)],
    ids=["preprocess", "evaluate"],
)
def test_a_full_disk_is_one_line_and_leaves_the_good_output_in_place(project, stage, output):
    target = project.root / output.relative_to(common.ROOT)
    before = target.read_bytes()
    tmp = target.with_name(f".tmp-{target.name}")
    tmp.symlink_to("/dev/full")  # the stage's temporary file: every write to it fails with ENOSPC
    result = project.run(sys.executable, "-m", f"stages.{stage}", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: No space left on device: {target}; free some disk space and run it again"
    )
    assert target.read_bytes() == before, "the earlier output is untouched"
    assert not tmp.exists() and not tmp.is_symlink(), "nothing half-written is left"
    project.dvc("repro")
    assert json.loads(project.dvc("status", "--json")) == {}


@pytest.fixture
def read_only_plots(project):
    """plots/ as a read-only bind mount of itself (root ignores file modes, so chmod would not do)."""
    plots = project.root / common.PLOTS_DIR.relative_to(common.ROOT)
    mounted = subprocess.run(["mount", "--bind", str(plots), str(plots)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"needs a bind mount (root in a namespace that allows it): {mounted.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(plots)], check=True, capture_output=True)
        yield plots
    finally:
        subprocess.run(["umount", str(plots)], check=True)


def test_a_read_only_output_folder_is_one_line_and_leaves_every_output_in_place(project, read_only_plots):
    before = outputs(project)
    result = project.run(sys.executable, "-m", "stages.evaluate", check=False)
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: Read-only file system: {read_only_plots}/"), result.stderr
    assert error.endswith("; make it writable, or work in a writable clone")
    assert outputs(project) == before, "evaluate wrote nothing anywhere, metrics/evaluate.json included"
    assert not list(read_only_plots.glob(".tmp-*"))
    assert json.loads(project.dvc("status", "--json")) == {}
