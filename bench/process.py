"""Running one command as a benchmark step: its wall time, CPU time and peak memory."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Linux keeps a process's peak resident size across fork and exec: a command started from a benchmark that
# holds TensorFlow (1.5 GB) would report that peak as its own. So a small launcher, a new Python, forks the
# command and reports the command's own rusage from wait4.
LAUNCHER = (
    "import json, os, sys\n"
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    os.execvp(sys.argv[2], sys.argv[2:])\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "with open(sys.argv[1], 'w') as f:\n"
    "    json.dump([usage.ru_maxrss, usage.ru_utime + usage.ru_stime], f)\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def measure(args: list[str], cwd: Path, env: dict, exit_code: int = 0) -> dict:
    """Run a command; its wall time, its stdout and stderr, and its own CPU time and peak resident memory (from
    wait4's rusage, in a launcher: LAUNCHER). CPU time is steadier than wall time on a shared machine whose
    cores come and go. An exit code other than `exit_code` stops the benchmark."""
    started = time.perf_counter()
    with (
        tempfile.TemporaryFile("w+") as out,
        tempfile.TemporaryFile("w+") as errors,
        tempfile.NamedTemporaryFile("r") as usage_file,
    ):
        launched = [sys.executable, "-c", LAUNCHER, usage_file.name, *args]
        returncode = subprocess.run(launched, cwd=cwd, env=env, stdout=out, stderr=errors, text=True).returncode
        errors.seek(0)
        if returncode != exit_code:
            raise SystemExit(f"benchmark step failed: {' '.join(args)}\n{errors.read()[-2000:]}")
        out.seek(0)
        peak_kb, cpu_s = json.load(usage_file)
        return {
            "wall_s": round(time.perf_counter() - started, 2),
            "cpu_s": round(cpu_s, 1),
            "peak_mb": round(peak_kb / 1024, 1),
            "stdout": out.read(),
            "stderr": errors.read(),
        }


def median_of(runs: list[dict]) -> dict:
    return {
        "wall_s": round(statistics.median(r["wall_s"] for r in runs), 2),
        "peak_mb": round(statistics.median(r["peak_mb"] for r in runs), 1),
        "runs": len(runs),
    }
