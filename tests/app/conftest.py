"""The app's fixtures: the real server, started once per test module, in an environment without logging settings."""

import os
import select
import subprocess
import sys

import pytest

from classifier import paths


@pytest.fixture(scope="session")
def clean_env() -> dict:
    """This environment without TensorFlow's or absl's logging settings: the tools must be quiet on their own."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "ABSL_"))}


@pytest.fixture(scope="module")
def served(tiny_onnx_path, tmp_path_factory, clean_env):
    """`python -m tools.serve --port 0`: the real command, on 127.0.0.1 by default, on a free port; its URL,
    its process and the file that collects its stderr."""
    stderr_path = tmp_path_factory.mktemp("serve") / "stderr.txt"
    command = [sys.executable, "-m", "tools.serve", "--port", "0", "--model", str(tiny_onnx_path)]
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            command, cwd=paths.ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True, env=clean_env
        )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 120)
        line = process.stdout.readline() if ready else "(no output in 120 s)"
        assert line.startswith("serving on http://127.0.0.1:"), line
        yield line.split()[2].rstrip("/"), process, stderr_path
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(served):
    return served[0]
