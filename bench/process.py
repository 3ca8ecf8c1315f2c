"""Running one command as a benchmark step: its wall time, CPU time and peak memory."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def measure(args: list[str], cwd: Path, env: dict, exit_code: int = 0) -> dict:
    """Run a command; its wall time, its stdout and stderr, and its own CPU time and peak resident memory (from
    wait4's rusage). CPU time is steadier than wall time on a shared machine whose cores come and go. An exit
    code other than `exit_code` stops the benchmark."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=errors, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        if process.returncode != exit_code:
            raise SystemExit(f"benchmark step failed: {' '.join(args)}\n{errors.read()[-2000:]}")
        out.seek(0)
        return {
            "wall_s": round(time.perf_counter() - started, 2),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_mb": round(usage.ru_maxrss / 1024, 1),
            "stdout": out.read(),
            "stderr": errors.read(),
        }


def median_of(runs: list[dict]) -> dict:
    return {
        "wall_s": round(statistics.median(r["wall_s"] for r in runs), 2),
        "peak_mb": round(statistics.median(r["peak_mb"] for r in runs), 1),
        "runs": len(runs),
    }
