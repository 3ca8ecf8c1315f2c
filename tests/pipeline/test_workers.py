"""Pipeline: one training run on two local workers (tf.distribute.MultiWorkerMirroredStrategy), through the
real `dvc repro`, on tiny synthetic data: it finishes, writes its outputs once, matches a one-worker run with
the same global batch, and a worker that dies fails the stage at once instead of hanging."""

import json
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.support.project import new_project, ran_stages

LEARNABLE = {
    "epochs": 6,
    "learning_rate": 0.01,
    "batch_size": 20,
    "model.width": 0.25,
    "early_stopping.patience": 10,
}  # every epoch runs, in both
TOLERANCE = 0.1  # of test accuracy on 60 synthetic digits, between 1 and 2 workers


def results(project) -> dict:
    root = project.root
    history = root / "metrics" / "train" / "plots" / "metrics" / "train" / "loss.tsv"
    return {
        "evaluate": json.loads((root / "metrics" / "evaluate.json").read_text()),
        "train": json.loads((root / "metrics" / "train" / "metrics.json").read_text()),
        "loss_steps": [line.split("\t")[0] for line in history.read_text().splitlines()[1:]],
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same tiny, learnable training run by one worker, then by two (same global batch)."""
    project = new_project(tmp_path_factory.mktemp("project"), tmp_path_factory.mktemp("mirror"))
    project.edit_params("train", **LEARNABLE)
    project.dvc("repro")
    one = results(project)
    project.edit_params("train", workers=2)
    output = project.dvc("repro")
    assert ran_stages(output) == {"params", "train", "export", "evaluate"}, output
    return project, one, results(project)


def test_two_workers_train_one_model_that_loads_plainly_and_matches_one_worker(runs):
    project, one, two = runs
    import keras

    model = keras.models.load_model(project.root / "models" / "model.h5")  # no custom objects
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    assert one["evaluate"]["accuracy"] >= 0.9, "the tiny task is learnable, so the comparison means something"
    assert abs(two["evaluate"]["accuracy"] - one["evaluate"]["accuracy"]) <= TOLERANCE, (one, two)
    assert two["train"]["epochs_run"] == one["train"]["epochs_run"] == LEARNABLE["epochs"]


def test_only_the_chief_writes_each_output_once(runs):
    project, _, two = runs
    assert two["loss_steps"] == [str(step) for step in range(LEARNABLE["epochs"])], "one history, not two"
    assert not list(project.root.rglob(".tmp-*")), "no temporary files left behind"
    assert json.loads(project.dvc("status", "--json")) == {}


def workers_of(process: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in process.children(recursive=True):
        try:
            if "TF_CONFIG" in child.environ():
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def test_a_worker_that_dies_fails_the_stage_with_one_line_and_leaves_no_worker(runs):
    project, _, _ = runs
    project.edit_params("train", epochs=1000)  # long enough to be killed mid-run
    repro = project.start(
        sys.executable, "-m", "dvc", "repro", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    launcher = psutil.Process(repro.pid)
    deadline = time.monotonic() + 120
    while len(workers := workers_of(launcher)) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(workers) == 2, "two workers started"
    time.sleep(10)  # into training
    victim = next(w for w in workers if '"index": 1' in w.environ()["TF_CONFIG"])
    victim.send_signal(signal.SIGKILL)
    try:
        _, stderr = repro.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        repro.kill()
        pytest.fail("the stage hung after a worker died")
    assert repro.returncode != 0
    assert "error: training worker 1 of 2 died (signal SIGKILL); the other workers were stopped." in stderr, stderr
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE], "no worker left"
