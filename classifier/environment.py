"""The machine and library versions a model was trained on, recorded beside its metrics by the train stage.

The same params and seed train slightly different models on CPUs with other instruction sets (oneDNN picks
other kernels), so a result is comparable only with the CPU and versions it came from. Imports no TensorFlow:
versions come from the installed packages' metadata.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")  # the ones oneDNN's kernels differ by
ONEDNN_VARIABLES = ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA", "OMP_NUM_THREADS")


def cpu_model_and_flags() -> tuple[str, list[str]]:
    """The CPU's model name and which of ISA_FLAGS it has (Linux); the platform's processor name elsewhere."""
    model, flags = platform.processor() or platform.machine(), set()
    if CPUINFO.is_file():
        for line in CPUINFO.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    return model, [flag for flag in ISA_FLAGS if flag in flags]


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def describe() -> dict:
    """CPU model, instruction sets, cores, Python, TensorFlow and Keras versions, and thread settings."""
    model, isa = cpu_model_and_flags()
    return {
        "cpu": model,
        "isa": isa,
        "cores": cores(),
        "python": platform.python_version(),
        "tensorflow": metadata.version("tensorflow"),
        "keras": metadata.version("keras"),
        "threads": {
            "intra_op": os.environ.get("TF_NUM_INTRAOP_THREADS", "TensorFlow's default: one per core"),
            "inter_op": os.environ.get("TF_NUM_INTEROP_THREADS", "TensorFlow's default"),
        },
        "settings": {name: os.environ[name] for name in ONEDNN_VARIABLES if name in os.environ},
    }


def summary(env: dict) -> str:
    """One line, e.g. `Intel(R) Xeon(R) Processor (avx2 avx512f ...), 2 cores, TF 2.21.0, Keras 3.15.1`."""
    return (
        f"{env['cpu']} ({' '.join(env['isa']) or 'no AVX2'}), {env['cores']} cores, "
        f"TF {env['tensorflow']}, Keras {env['keras']}"
    )
