"""Pipeline: sharing results through a DVC remote instead of retraining, with the real DVC and git.

One project (tiny synthetic data) is reproduced, pushed to a bare git repo and to the project's own default
remote (~/.cache/dvc-remotes/..., under a temporary home), and an experiment is pushed beside it. Fresh clones
then stand in for teammates: `dvc pull`, `dvc repro --pull` from the run cache, `dvc exp pull`, `dvc artifacts
get`, and the same round trip through a real S3 endpoint (moto's server, on localhost).
"""

import hashlib
import json
import sys

import numpy as np
import pytest
import yaml

from tests.support import s3, synthetic
from tests.support.project import STAGES, new_project, ran_stages
from tests.support.s3 import use_s3

EXPERIMENT = "one-epoch"
s3_endpoint = s3.s3_endpoint  # moto's S3 server, module-scoped: one for this module's tests


def md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def locked_outs(project) -> dict[str, str]:
    """Path -> md5 of every output that dvc.lock records."""
    lock = yaml.safe_load((project.root / "dvc.lock").read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


def assert_restored(project) -> None:
    """The dataset and the model are in the workspace with the hashes in dvc.lock; nothing is stale."""
    locked = locked_outs(project)
    assert md5(project.root / "models" / "model.h5") == locked["models/model.h5"]
    status = json.loads(project.dvc("status", "--json"))
    assert status == {}, status
    for directory in ("data/raw", "data/processed"):
        assert any((project.root / directory).iterdir()), directory


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    """The first teammate: reproduce, commit, push to git and the default remote; run an experiment, push it,
    and push the run cache with `make push`. Records the bytes of the baseline model and the experiment's model md5."""
    base = tmp_path_factory.mktemp("sharing")
    project = new_project(base / "origin", base / "mirror", home=base / "home")
    assert ran_stages(project.dvc("repro")) == set(STAGES)
    project.commit("baseline")
    project.run("git", "init", "-q", "--bare", "-b", "main", str(base / "origin.git"))
    project.run("git", "remote", "add", "origin", str(base / "origin.git"))
    project.run("git", "push", "-q", "origin", "main")
    project.dvc("push")
    project.model_bytes = (project.root / "models" / "model.h5").read_bytes()
    project.onnx_bytes = (project.root / "models" / "model.onnx").read_bytes()
    project.dvc("exp", "run", "-n", EXPERIMENT, "-S", "train.epochs=1")
    project.experiment_model_md5 = md5(project.root / "models" / "model.h5")
    project.experiment_metrics = json.loads((project.root / "metrics" / "evaluate.json").read_text())
    project.dvc("exp", "push", "origin", EXPERIMENT)
    project.run(sys.executable, "-m", "maintenance.push")  # `make push`: dvc push --run-cache, completed
    project.url = str(base / "origin.git")
    return project


def test_the_default_remote_is_outside_the_clone_under_the_users_cache(origin):
    remotes = origin.dvc("remote", "list").split()
    url = remotes[remotes.index("user-cache") + 1]
    assert url == str(origin.home / ".cache" / "dvc-remotes" / "mnist-cnn")
    assert (origin.home / ".cache" / "dvc-remotes" / "mnist-cnn" / "files" / "md5").is_dir(), "dvc push wrote it"


def test_a_fresh_clone_passes_the_lock_check_and_a_stale_lock_fails_it(origin, tmp_path):
    clone = origin.clone(origin.url, tmp_path / "clone")
    check = [sys.executable, "-m", "maintenance.check_lock"]
    assert clone.run(*check).stdout.startswith("dvc.lock matches"), "empty cache, nothing pulled: still passes"
    shared = clone.root / "classifier" / "paths.py"  # every stage imports it
    shared.write_text(shared.read_text().replace('"""Where the pipeline', '"""Where this pipeline', 1))
    stale = clone.run(*check, check=False)
    assert stale.returncode == 1
    lines = stale.stderr.strip().splitlines()
    assert {line.split("'")[1] for line in lines} == set(STAGES), lines
    assert lines[0] == (
        "error: dvc.lock is stale for stage 'params': classifier/paths.py modified; "
        "run `dvc repro` and commit dvc.lock with metrics/ and plots/"
    )
    clone.run("git", "checkout", "--", "classifier/paths.py")
    clone.edit_params("evaluate", misclassified_shown=5)
    (clone.root / "plots" / "old.png").write_bytes(b"\x89PNG")
    clone.run("git", "add", "plots/old.png")
    stale = clone.run(*check, check=False).stderr.strip().splitlines()
    assert stale == [
        "error: dvc.lock is stale for stage 'params': params.yaml evaluate.misclassified_shown modified; "
        "run `dvc repro` and commit dvc.lock with metrics/ and plots/",
        "error: dvc.lock is stale for stage 'evaluate': params.yaml evaluate.misclassified_shown modified; "
        "run `dvc repro` and commit dvc.lock with metrics/ and plots/",
        "error: plots/old.png is tracked by git but no stage in dvc.yaml writes it; "
        "`git rm` it or declare it in dvc.yaml",
    ]


def test_a_committed_metric_that_differs_from_the_lock_fails_the_check(origin, tmp_path):
    clone = origin.clone(origin.url, tmp_path / "clone")
    metrics = clone.root / "metrics" / "evaluate.json"
    metrics.write_text(metrics.read_text().replace('"accuracy": ', '"accuracy": 0.5, "was": ', 1))
    stale = clone.run(sys.executable, "-m", "maintenance.check_lock", check=False)
    assert stale.returncode == 1 and "stage 'evaluate': metrics/evaluate.json modified" in stale.stderr


def test_a_fresh_clone_pulls_the_model_byte_for_byte_and_predicts_without_training(origin, tmp_path):
    clone = origin.clone(origin.url, tmp_path / "clone")
    assert not (clone.root / "models" / "model.h5").exists()
    assert not (clone.root / "models" / "model.onnx").exists()
    clone.dvc("pull")
    assert (clone.root / "models" / "model.h5").read_bytes() == origin.model_bytes
    assert (clone.root / "models" / "model.onnx").read_bytes() == origin.onnx_bytes, "the model people run"
    assert_restored(clone)
    assert ran_stages(clone.dvc("repro")) == set()
    images, _ = synthetic.digits(12, seed=5)
    np.save(tmp_path / "digits.npy", images)
    predicted = clone.run(sys.executable, "-m", "tools.predict", str(tmp_path / "digits.npy"), "--json")
    assert len(json.loads(predicted.stdout)) == 12
    assert json.loads(clone.dvc("status", "--json")) == {}, "predicting trained or changed nothing"


def test_repro_pull_restores_every_stage_and_a_pushed_run_from_the_run_cache(origin, tmp_path):
    clone = origin.clone(origin.url, tmp_path / "clone")
    output = clone.dvc("repro", "--pull")
    assert ran_stages(output) == set(), output
    assert_restored(clone)
    clone.edit_params("train", epochs=1)  # the experiment's params: not in git's dvc.lock, only in the run cache
    output = clone.dvc("repro", "--pull")
    assert ran_stages(output) == set(), output
    assert "Stage 'train' is cached - skipping run" in output, output
    assert md5(clone.root / "models" / "model.h5") == origin.experiment_model_md5
    assert json.loads((clone.root / "metrics" / "evaluate.json").read_text()) == origin.experiment_metrics


def test_a_pushed_experiment_is_pulled_shown_and_applied_with_its_model(origin, tmp_path):
    clone = origin.clone(origin.url, tmp_path / "clone")
    clone.dvc("exp", "pull", "origin", EXPERIMENT)
    shown = json.loads(clone.dvc("exp", "show", "--json"))
    rows = {
        rev["name"]: rev["data"]
        for baseline in shown
        for experiment in baseline.get("experiments") or []
        for rev in experiment["revs"]
    }
    assert EXPERIMENT in rows, rows.keys()
    assert rows[EXPERIMENT]["params"]["params.yaml"]["data"]["train"]["epochs"] == 1
    metrics = rows[EXPERIMENT]["metrics"]["metrics/evaluate.json"]["data"]
    assert metrics == origin.experiment_metrics
    clone.dvc("exp", "apply", EXPERIMENT)
    clone.dvc("pull")
    assert md5(clone.root / "models" / "model.h5") == origin.experiment_model_md5


def test_a_registered_model_version_is_fetched_by_artifacts_get_without_a_clone(origin, tmp_path):
    publisher = origin.clone(origin.url, tmp_path / "publisher")
    identity = {"GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com"}
    publisher.env.update(identity)
    publisher.run("gto", "register", "mnist-cnn", "--version", "v1.0.0", "--push")
    assert "mnist-cnn@v1.0.0" in origin.run("git", "ls-remote", "--tags", origin.url).stdout
    fetched = tmp_path / "downloads" / "model.h5"
    fetched.parent.mkdir()
    origin.run(sys.executable, "-m", "dvc", "artifacts", "get", origin.url, "mnist-cnn", "-o", str(fetched))
    assert fetched.read_bytes() == origin.model_bytes


def test_the_same_round_trip_through_an_s3_endpoint(origin, s3_endpoint, tmp_path):
    publisher = origin.clone(origin.url, tmp_path / "publisher")
    publisher.dvc("pull")
    use_s3(publisher, s3_endpoint)
    publisher.dvc("push", "-r", "team")
    publisher.commit("team remote on S3")
    publisher.run("git", "push", "-q", "origin", "main:s3")
    assert "access_key_id" not in (publisher.root / ".dvc" / "config").read_text(), "no secret in git"

    teammate = origin.clone(origin.url, tmp_path / "teammate")
    teammate.run("git", "checkout", "-q", "s3")
    use_s3(teammate, s3_endpoint)
    teammate.dvc("pull", "-r", "team")
    assert (teammate.root / "models" / "model.h5").read_bytes() == origin.model_bytes
    assert_restored(teammate)
    assert ran_stages(teammate.dvc("repro")) == set()
