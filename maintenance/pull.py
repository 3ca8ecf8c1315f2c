"""`dvc pull`, with the two repairs DVC 3.67 lacks after a pull that was killed or ran out of disk space.

Usage: python -m maintenance.pull [dvc pull's targets and options]   (make pull)

- A pull killed while it checks out an output folder leaves DVC's own temporary file there (`.<token>.tmp`),
  and the next `dvc pull` will not run: it takes that file for an unsaved one of yours ("Can't remove the
  following unsaved files without confirmation"). When every file it names is such a temporary file, they
  are removed, said in one line, and the pull runs once more.
- A pull that runs out of disk space prints one error for each file it could not write (thousands) and a last
  line that does not say why, and leaves each unfinished copy in the cache under a temporary name: here it is
  one line naming the lack of space and the cache, and those temporary files are removed (this pull's and
  earlier ones', but not one that a process holds open: another DVC may be writing to a shared cache).
Any other failure is DVC's own message, and its exit code.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from pathlib import Path

import psutil

from classifier import errors, paths
from maintenance import verify_cache

TEMPORARY = re.compile(r"\.[\w-]{22}\.tmp")  # dvc-objects' tmp_fname: where a file is written before its rename
UNSAVED = "Can't remove the following unsaved files without confirmation"
NO_SPACE = "[Errno 28] No space left on device"


def dvc_pull(args: list[str]) -> subprocess.CompletedProcess:
    """`dvc pull ARGS`, its output on this terminal as it comes, its errors kept to read."""
    return subprocess.run(
        [sys.executable, "-m", "dvc", "pull", *args], cwd=paths.ROOT, stderr=subprocess.PIPE, text=True
    )


def temporary_files(stderr: str) -> list[Path]:
    """The files DVC refuses to overwrite, when each is a temporary file of its own (else none)."""
    lines = stderr.splitlines()
    named = next((lines[i + 1 :] for i, line in enumerate(lines) if UNSAVED in line), [])
    files = [Path(line.strip()) for line in named if line.strip()]
    return files if files and all(TEMPORARY.fullmatch(path.name) for path in files) else []


def held_open() -> set[str]:
    """The paths of the files that some process on this machine holds open."""
    held = set()
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            held.update(file.path for file in process.open_files())
    return held


def shown(path: Path) -> str:
    return str(path.relative_to(paths.ROOT)) if path.is_relative_to(paths.ROOT) else str(path)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    pulled = dvc_pull(args)
    leftovers = temporary_files(pulled.stderr) if pulled.returncode else []
    if leftovers:
        for path in leftovers:
            path.unlink(missing_ok=True)
        folders = ", ".join(sorted({shown(path.parent) for path in leftovers}))
        print(f"removed {len(leftovers)} temporary file(s) that a killed `dvc pull` left in {folders}; pulling again")
        pulled = dvc_pull(args)
    if pulled.returncode == 0:
        sys.stderr.write(pulled.stderr)
        return
    if NO_SPACE in pulled.stderr:
        cache = verify_cache.cache_dir(paths.ROOT)
        held = held_open()
        partial = [  # this pull's and earlier ones', but none that another DVC process is writing to a shared cache
            path for path in cache.glob("*/.*.tmp") if TEMPORARY.fullmatch(path.name) and str(path) not in held
        ]
        for path in partial:
            path.unlink(missing_ok=True)
        failed = sum(NO_SPACE in line for line in pulled.stderr.splitlines())
        raise errors.UserError(
            f"the disk filled during `dvc pull`: {failed} file(s) could not be written to DVC's cache ({cache}: "
            f"No space left on device; its {len(partial)} unfinished copies were removed); free some disk space, "
            "or move the cache with `dvc cache dir`, and run `make pull` again"
        )
    sys.stderr.write(pulled.stderr)
    raise SystemExit(pulled.returncode)


if __name__ == "__main__":
    sys.exit(errors.run(main))
