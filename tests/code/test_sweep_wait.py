"""Code: how `tools.sweep` waits on DVC's queue when its workers die or never come up (the queue's state is
stubbed here; tests/pipeline/test_sweep.py runs the real queue)."""

import pytest

from classifier import errors
from tools import sweep


@pytest.fixture
def queue(monkeypatch):
    """A queue whose task 'a' finished and 'b' stays queued, and whose workers answer as `alive` says."""
    state = {"alive": False, "starts": 0}
    tasks = [{"rev": "a" * 40, "name": "a", "status": "Success"}, {"rev": "b" * 40, "name": "b", "status": "Queued"}]
    monkeypatch.setattr(sweep, "queue_status", lambda: tasks)
    monkeypatch.setattr(sweep, "workers_alive", lambda: state["alive"])
    monkeypatch.setattr(sweep, "start", lambda jobs: state.update(starts=state["starts"] + 1))
    monkeypatch.setattr(sweep, "POLL_S", 0)
    monkeypatch.setattr(sweep, "STALL_S", 0)
    return tasks, state


def test_dead_workers_are_started_once_more_then_the_unfinished_tasks_are_named(queue):
    tasks, state = queue
    with pytest.raises(errors.UserError, match=r"no DVC queue worker is running and b did not finish"):
        sweep.wait({task["rev"] for task in tasks}, jobs=2)
    assert state["starts"] == 1


def test_a_restarted_worker_that_finishes_the_task_ends_the_wait(queue, monkeypatch):
    tasks, state = queue

    def restart(jobs):
        state["starts"] += 1
        tasks[1]["status"] = "Failed"

    monkeypatch.setattr(sweep, "start", restart)
    assert sweep.wait({task["rev"] for task in tasks}, jobs=1) == {"a": "Success", "b": "Failed"}
    assert state["starts"] == 1


def test_a_task_taken_off_the_queue_ends_the_wait_as_removed_and_fails_nothing(queue, monkeypatch, capsys):
    tasks, state = queue
    state["alive"] = True
    revs = {task["rev"] for task in tasks}
    looks = []

    def status():  # `dvc queue remove b` after two looks
        looks.append(1)
        assert len(looks) < 20, "the wait did not end after b was taken off the queue"
        return tasks if len(looks) <= 2 else tasks[:1]

    monkeypatch.setattr(sweep, "queue_status", status)
    states = sweep.wait(revs, jobs=1)
    assert states == {"a": "Success", "b": sweep.REMOVED}
    sweep.report(states)
    out = capsys.readouterr().out
    assert "1 of 1 experiments succeeded" in out
    assert "taken off the queue before they ran (dvc queue remove): b" in out


def test_an_experiment_left_running_by_a_dead_worker_is_stopped_and_marked_failed(queue, monkeypatch, capsys):
    """A worker killed mid-experiment leaves it Running for good (tests/faults/test_transfer_faults.py shows DVC
    doing so): the wait stops it and marks it failed, then starts the workers for the one queued behind it."""
    tasks, state = queue
    tasks.append({"rev": "c" * 40, "name": "c", "status": "Queued"})
    tasks[1]["status"] = "Running"
    stopped = []

    def stop_orphans(names):
        stopped.append(names)
        tasks[1]["status"] = "Failed"

    def restart(jobs):
        state["starts"] += 1
        tasks[2]["status"] = "Success"

    monkeypatch.setattr(sweep, "queue_worker_processes", lambda: [])  # the worker's process is gone too
    monkeypatch.setattr(sweep, "stop_orphans", stop_orphans)
    monkeypatch.setattr(sweep, "start", restart)
    assert sweep.wait({task["rev"] for task in tasks}, jobs=1) == {"a": "Success", "b": "Failed", "c": "Success"}
    assert stopped == [["b"]] and state["starts"] == 1
    assert "b: the DVC queue worker running it died; stopped and marked failed" in capsys.readouterr().out
