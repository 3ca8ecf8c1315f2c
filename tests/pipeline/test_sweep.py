"""Pipeline: grid sweeps through DVC's own sweep syntax and queue, with the real DVC, git and TensorFlow on tiny
synthetic data: `make sweep` on one machine, and `make sweep-worker` on two clones of one bare git repo sharing
the project's default DVC remote (one temporary home), collected by a third clone with `make sweep-collect`."""

import hashlib
import json
import shutil
import subprocess
import sys
import time

import pytest
import yaml

from classifier import paths
from tests.support.project import Project, new_project, ran_stages

LOCAL_GRID = "-S 'train.learning_rate=-1,0.01,0.02,0.03,0.05' -S train.epochs=1"  # 5 points, the first one bad
GOOD_RATES = {0.01, 0.02, 0.03, 0.05}
BAD_RATE_ERROR = "error: params.yaml: train.learning_rate must be "  # how the stage's one-line error starts

NAME = "grid"
GRID = ["-S", "train.seed=1,2", "-S", "train.learning_rate=0.01,0.02"]
POINTS = {"grid-1": (1, 0.01), "grid-2": (1, 0.02), "grid-3": (2, 0.01), "grid-4": (2, 0.02)}  # DVC's order
SHARES = {1: {"grid-1", "grid-3"}, 2: {"grid-2", "grid-4"}}  # round robin


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def set_up_make(project) -> None:
    """The Makefile in the test repo, with `make setup` counted as done: the test's venv is on PATH already."""
    for name in ("Makefile", "requirements.txt", "pyproject.toml"):
        shutil.copy(paths.ROOT / name, project.root / name)
    stamp = project.root / ".venv" / ".installed-requirements"
    stamp.parent.mkdir(exist_ok=True)
    stamp.touch()


def make(project, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return project.run("make", "--no-print-directory", *args, check=check)


def experiments(project) -> dict[str, dict]:
    """Name -> `dvc exp show --json`'s entry (its `error`, and `data` with params and metrics)."""
    shown = json.loads(project.dvc("exp", "show", "--json"))
    return {
        rev["name"]: rev
        for baseline in shown
        for experiment in baseline.get("experiments") or []
        for rev in experiment["revs"]
    }


def train_params(row: dict) -> dict:
    return row["data"]["params"]["params.yaml"]["data"]["train"]


def evaluation(row: dict) -> dict:
    return row["data"]["metrics"]["metrics/evaluate.json"]["data"]


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    """The committed pipeline (with the Makefile), pushed to a bare git repo and, with `make push`, to the
    project's default DVC remote under a temporary home that every clone here shares."""
    base = tmp_path_factory.mktemp("sweep")
    project = new_project(base / "origin", base / "mirror", home=base / "home")
    set_up_make(project)
    project.dvc("repro")
    project.commit("baseline")
    project.url = str(base / "origin.git")
    project.run("git", "init", "-q", "--bare", "-b", "main", project.url)
    project.run("git", "remote", "add", "origin", project.url)
    project.run("git", "push", "-q", "origin", "main")
    project.run(sys.executable, "-m", "maintenance.push")
    return project


@pytest.fixture(scope="module")
def local_sweep(origin):
    """`make sweep` of a 5-point grid, two at a time; one point has a negative learning rate."""
    started = time.monotonic()
    result = make(origin, "sweep", f"GRID={LOCAL_GRID}", "JOBS=2", check=False)
    print(f"\nmake sweep, 5 points (4 trained, 1 failing), -j 2: {time.monotonic() - started:.1f} s")
    return result


def test_make_sweep_runs_every_point_as_an_experiment_with_its_own_metrics(origin, local_sweep):
    rows = experiments(origin)
    good = {name: row for name, row in rows.items() if row["error"] is None}
    assert {train_params(row)["learning_rate"] for row in good.values()} == GOOD_RATES, rows.keys()
    main_loss = json.loads((origin.root / "metrics" / "evaluate.json").read_text())["loss"]
    for name, row in good.items():
        assert train_params(row)["epochs"] == 1
        assert row["data"]["metrics"]["metrics/train/metrics.json"]["data"]["epochs_run"] == 1, name
        assert evaluation(row)["loss"] != main_loss, f"{name} shows its own metrics, not the baseline's"
    assert "4 of 5 experiments succeeded" in local_sweep.stdout
    assert "train.learning_rate" in local_sweep.stdout and all(name in local_sweep.stdout for name in good)


def test_the_bad_point_fails_alone_and_queue_logs_show_its_one_line_error(origin, local_sweep):
    rows = experiments(origin)
    failed = [name for name, row in rows.items() if row["error"] is not None]
    assert len(failed) == 1 and train_params(rows[failed[0]])["learning_rate"] == -1, rows
    assert local_sweep.returncode != 0, "make sweep fails when a point failed, after printing the table"
    assert "Failed" in local_sweep.stdout, "the table marks the failed point, which shows the baseline's metrics"
    assert f"{failed[0]} failed: {BAD_RATE_ERROR}" in local_sweep.stderr
    assert BAD_RATE_ERROR in origin.dvc("queue", "logs", failed[0])
    statuses = [
        line.split()[-1]
        for line in origin.dvc("queue", "status").splitlines()[1:]
        if line.strip() and not line.startswith("Worker status")
    ]
    assert sorted(statuses) == ["Failed"] + ["Success"] * 4, statuses


@pytest.fixture(scope="module")
def machines(origin, tmp_path_factory):
    """Two worker clones run their shares of GRID at the same time (`make sweep-worker`), one at a time each;
    then a third clone collects them (`make sweep-collect`)."""
    base = tmp_path_factory.mktemp("machines")
    workers = {k: origin.clone(origin.url, base / f"worker{k}") for k in SHARES}
    for worker in workers.values():
        set_up_make(worker)
    started = time.monotonic()
    running = {
        k: subprocess.Popen(
            [
                "make",
                "--no-print-directory",
                "sweep-worker",
                f"WORKER={k}",
                "OF=2",
                f"GRID={' '.join(GRID)}",
                f"SWEEP_NAME={NAME}",
            ],
            cwd=worker.root,
            env=worker.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for k, worker in workers.items()
    }
    outputs = {k: process.communicate(timeout=900)[0] for k, process in running.items()}
    print(f"\ntwo-clone sweep, 4 points, 2 per clone, -j 1 each: {time.monotonic() - started:.1f} s")
    for k, process in running.items():
        assert process.returncode == 0, outputs[k]
    coordinator = origin.clone(origin.url, base / "coordinator")
    set_up_make(coordinator)
    collected = make(coordinator, "sweep-collect", f"GRID={' '.join(GRID)}", f"SWEEP_NAME={NAME}").stdout
    return workers, outputs, coordinator, collected


def test_the_coordinator_shows_every_point_of_the_grid_with_its_metrics(machines):
    _, _, coordinator, collected = machines
    rows = experiments(coordinator)
    assert set(POINTS) <= set(rows), rows.keys()
    for name, (seed, rate) in POINTS.items():
        assert rows[name]["error"] is None
        assert (train_params(rows[name])["seed"], train_params(rows[name])["learning_rate"]) == (seed, rate)
        assert 0 <= evaluation(rows[name])["accuracy"] <= 1, name
    assert len({evaluation(rows[name])["loss"] for name in POINTS}) == len(POINTS), "each its own metrics"
    assert "pulled 4 of the grid's 4 experiments from origin" in collected
    assert all(name in collected for name in POINTS) and "train.seed" in collected, collected


def test_each_worker_ran_its_share_and_neither_ran_fetch_or_preprocess(machines):
    workers, outputs, _, _ = machines
    for k, worker in workers.items():
        assert set(worker.dvc("exp", "list", "--name-only").split()) == SHARES[k], outputs[k]
        assert f"pushed {', '.join(sorted(SHARES[k]))} to origin" in outputs[k]
        for name in SHARES[k]:
            log = worker.dvc("queue", "logs", name)
            assert ran_stages(log) == {"params", "train", "export", "evaluate"}, log
            assert "Stage 'preprocess' didn't change, skipping" in log


def test_applying_an_experiment_on_the_coordinator_pulls_the_model_its_worker_made(machines):
    workers, _, coordinator, _ = machines
    worker = workers[2]
    ref = next(
        ref
        for ref in worker.run("git", "for-each-ref", "--format=%(refname)", "refs/exps").stdout.split()
        if ref.endswith("/grid-4")
    )
    lock = yaml.safe_load(worker.run("git", "show", f"{ref}:dvc.lock").stdout)
    locked = next(out["md5"] for out in lock["stages"]["train"]["outs"] if out["path"] == "models/model.h5")
    made = (worker.root / ".dvc" / "cache" / "files" / "md5" / locked[:2] / locked[2:]).read_bytes()
    assert md5(made) == locked
    coordinator.dvc("exp", "apply", "grid-4")
    coordinator.dvc("pull")
    assert md5((coordinator.root / "models" / "model.h5").read_bytes()) == locked
    assert json.loads(coordinator.dvc("status", "--json")) == {}


def test_a_point_is_restored_from_the_pushed_run_cache_instead_of_trained(origin, machines, tmp_path):
    clone = origin.clone(origin.url, tmp_path / "clone")
    seed, rate = POINTS["grid-1"]
    clone.edit_params("train", seed=seed, learning_rate=rate)
    output = clone.dvc("repro", "--pull")
    assert ran_stages(output) == set(), output
    assert "Stage 'train' is cached - skipping run" in output


def test_collect_names_the_points_that_no_machine_pushed(machines):
    _, _, coordinator, _ = machines
    bigger = ["-S", "train.seed=1,2,3", "-S", "train.learning_rate=0.01,0.02"]
    result = coordinator.run(sys.executable, "-m", "tools.sweep", "collect", "-n", NAME, *bigger, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("error: not on origin for this commit yet: grid-5, grid-6; "), result.stderr


def test_a_worker_refuses_names_already_on_the_remote(machines):
    workers, _, _, _ = machines
    result = workers[1].run(
        sys.executable, "-m", "tools.sweep", "run", "--worker", "1", "--of", "2", "-n", NAME, *GRID, check=False
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: grid-1, grid-3 already on origin for this commit"), result.stderr


def test_a_worker_stops_before_queueing_when_the_dvc_remote_lacks_the_pipeline(origin, tmp_path):
    origin.run("git", "clone", "-q", origin.url, str(tmp_path / "clone"))
    clone = Project(tmp_path / "clone", origin.mirror, home=tmp_path / "home")  # another home: an empty remote
    result = clone.run(sys.executable, "-m", "tools.sweep", "run", *GRID, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: dvc pull failed ("), result.stderr
    assert "must push it first (`make push`)" in result.stderr
    assert "No experiment tasks in the queue" in clone.dvc("queue", "status")


def test_an_unreachable_git_remote_gets_one_line(origin, tmp_path):
    clone = origin.clone(origin.url, tmp_path / "clone")
    clone.run("git", "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    result = clone.run(sys.executable, "-m", "tools.sweep", "collect", *GRID, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot list the experiments on origin (") and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--worker", "3", "--of", "2", *GRID], "error: --worker 3 --of 2: machines count from 1"),
        (["run", "--worker", "1", "--of", "0", *GRID], "error: --worker 1 --of 0: machines count from 1"),
        (["run", "-j", "0", *GRID], "error: -j 0: give the number of experiments to run at a time"),
        (["run"], "error: the grid is empty; give at least one -S"),
        (["collect", "-S", "train.seed=range(1,1)"], "error: the grid is empty; give at least one -S"),
        (["run", "-S", "train.seed=1,"], "error: the grid 'train.seed=1,' is not DVC's sweep syntax"),
        (["run", "--remote", "upstream", *GRID], "error: this clone has no git remote 'upstream'; every machine"),
        (["collect", "--remote", "upstream", *GRID], "error: this clone has no git remote 'upstream'"),
    ],
)
def test_bad_input_gets_one_line_naming_the_fix(origin, args, message):
    result = origin.run(sys.executable, "-m", "tools.sweep", *args, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
