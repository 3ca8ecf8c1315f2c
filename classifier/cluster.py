"""Training on several workers with TensorFlow's MultiWorkerMirroredStrategy: the cluster that `TF_CONFIG` describes.

On one machine (`train.workers` > 1 and no TF_CONFIG set) the train stage becomes a launcher: it starts that many
copies of itself as local processes, each with a TF_CONFIG naming the same free localhost ports and its own
index, and waits. Worker 0 is the chief: it alone writes the model and the metrics. If any worker dies, the
launcher stops the others at once and fails with one line (collective ops would otherwise wait forever), and
the workers die with the launcher (stages/__init__.py: PR_SET_PDEATHSIG), so a killed `dvc repro` leaves none behind.
On several hosts, each host sets TF_CONFIG itself and runs the stage (README, "Scale out").
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

from classifier.errors import UserError

TF_CONFIG = "TF_CONFIG"  # one of stages.MANAGED_BY (stages/__init__.py): a worker dies with its launcher
POLL_S = 0.5
STOP_GRACE_S = 10


def in_cluster() -> bool:
    return bool(os.environ.get(TF_CONFIG))


def is_chief() -> bool:
    """Worker 0 (or an explicit chief) of the cluster in TF_CONFIG; a single process is its own chief."""
    if not in_cluster():
        return True
    try:
        task = json.loads(os.environ[TF_CONFIG]).get("task", {})
    except (json.JSONDecodeError, AttributeError):
        raise UserError(f"{TF_CONFIG} is not a JSON object with a `task`; fix it or unset it to train here")
    return task.get("type") == "chief" or (task.get("type") == "worker" and task.get("index") == 0)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def start(count: int, command: list[str]) -> list[subprocess.Popen]:
    """Start `command` (python arguments, e.g. ["-m", "stages.train"]) as `count` workers of one cluster."""
    hosts = [f"127.0.0.1:{port}" for port in free_ports(count)]
    processes = []
    for index in range(count):
        config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}
        processes.append(
            subprocess.Popen(
                [sys.executable, *command],
                env={**os.environ, TF_CONFIG: json.dumps(config)},
                stdout=None if index == 0 else subprocess.DEVNULL,
            )
        )
    return processes


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def exit_text(code: int) -> str:
    if code >= 0:
        return f"exit code {code}"
    try:
        return f"signal {signal.Signals(-code).name}"
    except ValueError:  # a real-time signal has no name
        return f"signal {-code}"


def run_local(count: int, command: list[str]) -> None:
    """Run python `command` as `count` workers of one local cluster; return when all succeed, fail when one fails."""
    processes = start(count, command)
    try:
        while True:
            codes = [process.poll() for process in processes]
            failed = [(index, code) for index, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                index, code = min(failed, key=lambda entry: entry[1] >= 0)  # a killed worker before its victims
                raise UserError(
                    f"training worker {index} of {count} died ({exit_text(code)}); the other workers were stopped. "
                    f"Its error is above; to train in one process, `dvc exp run -S train.workers=1`"
                )
            if all(code == 0 for code in codes):
                return
            time.sleep(POLL_S)
    finally:
        stop(processes)
