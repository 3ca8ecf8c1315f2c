"""App: the load-test script runs end to end in its quick mode and writes its JSON and Markdown."""

import json
import subprocess
import sys

from classifier import paths
from tools import serve


def test_load_test_runs_in_quick_mode(tmp_path, tiny_onnx_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.load",
            "--quick",
            "--model",
            str(tiny_onnx_path),
            "--clients",
            "1",
            "3",
            "--out",
            str(tmp_path),
        ],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads((tmp_path / "load.json").read_text())
    assert figures["quick"] is True and set(figures["levels"]) == {"1", "3"}
    for level in figures["levels"].values():
        assert level["requests"] >= 20 and level["errors"] == 0 and level["requests_per_s"] > 0
        assert 0 < level["median_ms"] <= level["p99_ms"] and level["peak_mb"] >= figures["idle_mb"] * 0.9
        assert level["server_cpu_ms"] > 0 and level["client_cpu_ms"] > 0
    assert 0 < figures["first_answer_s"] < 120
    assert set(figures["floods"]) == {"huge_7000", "at_pixel_limit"}
    assert all(flood["unexpected"] == 0 and flood["peak_mb"] > 0 for flood in figures["floods"].values())
    assert figures["soak"]["requests"] == 200 and figures["soak"]["errors"] == 0
    alone = figures["slow_clients"]["waitress alone"]
    assert alone["connections"] == 50 and alone["trickling_opened"] >= 50 and alone["normal_requests"] > 0
    table = (tmp_path / "load.md").read_text()
    assert "| waitress alone | 50 | 4 |" in table and "| through nginx (--public) |" in table
    if serve.nginx_path():  # `make test-deps` installs it
        nginx = figures["slow_clients"]["through nginx (--public)"]
        assert "skipped" not in nginx and nginx["answered_share"] > 0.9 and nginx["longest_trickle_s"] < 4.5
    assert "| clients | requests | requests/s | median (ms) | p99 (ms) | errors | peak memory (MB) | CPU per" in table
    assert "| 3 | 20 |" in table and "7000x7000 RGBA PNG" in table
