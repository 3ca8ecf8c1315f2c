"""Find damaged files in DVC's local cache, name them and remove them, so that `dvc pull` or `dvc repro` brings
the good bytes back.

Usage: python -m maintenance.verify_cache [REPO]   (`make verify-cache`; `make push` runs it before pushing)

DVC names each cache file by the MD5 of its bytes, and in 3.67 trusts a read-only one without reading it again
(DVC issue #5978): a damaged copy (bit rot, a write by root, a restore that kept file modes) is checked out as
if good by `dvc checkout`, `dvc pull` and `dvc repro` (from the run cache), and `dvc push` uploads it under
the good name, so that every teammate's pull gets it. This rehashes every file in the cache. A damaged one is
named, by the workspace path dvc.lock gives it where it has one, and deleted: DVC then sees it as missing,
and `dvc pull` or `dvc repro` restores it. Exit 0 when every file is good, 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

import yaml

from classifier import errors, paths

ENTRY = re.compile(r"[0-9a-f]{30}(\.dir)?")  # a cache file's name under its 2-hex folder; DVC's own
# temporary files (.<token>.tmp, left by a killed pull or repro) are not entries and are skipped
FIX = "restore them with `dvc pull` (or `dvc repro` where no remote holds them), then `dvc checkout --relink`"


def cache_dir(root: Path) -> Path:
    """The folder DVC keeps its files in, by MD5 (.dvc/cache/files/md5 unless `dvc cache dir` moved it)."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(root)) as repo:
            return Path(repo.cache.local.path)
    except DvcException as exc:
        raise errors.UserError(f"{root} is not a readable DVC project ({exc}); run this in a clone of it")


def md5_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()


def named_in_lock(root: Path, cache: Path) -> dict[str, str]:
    """MD5 -> workspace path for every cached output dvc.lock records, and for each file of its folders."""
    lock_path = root / "dvc.lock"
    lock = yaml.safe_load(lock_path.read_text()) if lock_path.is_file() else {}
    names = {}
    for stage in (lock or {}).get("stages", {}).values():
        for out in stage.get("outs", []):
            md5, path = out.get("md5"), out["path"]
            if not md5:
                continue
            names[md5.removesuffix(".dir")] = path
            manifest = cache / md5[:2] / md5[2:]
            if md5.endswith(".dir") and manifest.is_file():
                try:
                    entries = json.loads(manifest.read_text())
                except (ValueError, UnicodeDecodeError):  # a damaged manifest is found by its own hash
                    continue
                names.update({entry["md5"]: f"{path}/{entry['relpath']}" for entry in entries})
    return names


def damaged(root: Path) -> list[tuple[str, Path]]:
    """(what it is, cache file) of each cache file whose bytes do not hash to its name."""
    cache = cache_dir(root)
    if not cache.is_dir():
        return []
    names = named_in_lock(root, cache)
    found = []
    for path in sorted(cache.glob("[0-9a-f][0-9a-f]/*")):
        expected = path.parent.name + path.name.removesuffix(".dir")
        if ENTRY.fullmatch(path.name) and path.is_file() and md5_of(path) != expected:
            found.append((names.get(expected, f"cache entry {expected}"), path))
    return found


def verify(root: Path) -> None:
    """Delete every damaged cache file, and then fail in one line that names what they held and the fix."""
    found = damaged(root)
    kept = []
    for name, path in found:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            kept.append(f"{name} ({path}: {exc.strerror})")
    if kept:
        raise errors.UserError(f"damaged in DVC's cache and not removable: {', '.join(kept)}; delete them, then {FIX}")
    if found:
        raise errors.UserError(f"damaged in DVC's cache, removed: {', '.join(name for name, _ in found)}; {FIX}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", nargs="?", type=Path, default=paths.ROOT)
    verify(parser.parse_args(argv).repo)
    print("every file in DVC's cache matches its hash")


if __name__ == "__main__":
    sys.exit(errors.run(main))
