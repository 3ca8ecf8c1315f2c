"""Fetch stage: get the four original MNIST IDX .gz files and verify each against its pinned SHA-256.

Reads: params.yaml `fetch` (mirrors: ordered base URLs; timeout_s; sha256: file name -> checksum) and
       the MNIST_MIRROR environment variable, a local directory or base URL tried before the mirrors.
Writes: data/raw/<file>.gz for the four files. A file that fails its checksum never lands there.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from stages import common

MIRROR_ENV = "MNIST_MIRROR"
CHUNK = 1 << 16


def read_params() -> tuple[list[str], float, dict[str, str]]:
    section = common.load_section("fetch")
    mirrors = section.str_list("mirrors")
    timeout = section.float("timeout_s", lo=0, lo_open=True)
    sums = section.mapping("sha256")
    section.check_no_unknown()
    expected_names = set(common.RAW_FILES.values())
    if set(sums) != expected_names:
        raise common.PipelineError(
            f"params.yaml: fetch.sha256 must list exactly {', '.join(sorted(expected_names))}; "
            f"it lists {', '.join(sorted(map(str, sums))) or 'nothing'}"
        )
    for name, digest in sums.items():
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise common.PipelineError(
                f"params.yaml: fetch.sha256.{name} must be 64 lowercase hex digits, got {digest!r}; "
                f"compute it with `sha256sum {name}`"
            )
    return mirrors, timeout, sums


def sources(mirrors: list[str]) -> list[str]:
    """The places to try, in order: $MNIST_MIRROR first when set, then the mirrors from params."""
    override = os.environ.get(MIRROR_ENV, "").strip()
    return ([override] if override else []) + mirrors


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def is_url(source: str) -> bool:
    return re.match(r"^[a-z][a-z0-9+.-]*://", source) is not None


def copy_local(source: str, name: str, dest: Path) -> None:
    path = Path(source).expanduser() / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    shutil.copyfile(path, dest)


def download(url: str, dest: Path, timeout: float) -> None:
    """Stream `url` into `dest`, showing a progress bar on stderr."""
    request = urllib.request.Request(url, headers={"User-Agent": "mnist-dvc-pipeline"})
    with urllib.request.urlopen(request, timeout=timeout) as response, dest.open("wb") as out:
        size = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=size, unit="B", unit_scale=True, desc=dest.name.removeprefix(".tmp-"),
                  file=sys.stderr, mininterval=0.5) as bar:
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
                bar.update(len(block))


def fetch_from(source: str, name: str, dest: Path, timeout: float) -> None:
    if is_url(source):
        download(source.rstrip("/") + "/" + name, dest, timeout)
    else:
        copy_local(source, name, dest)


def fetch_file(name: str, expected: str, places: list[str], raw_dir: Path, timeout: float) -> str:
    """Put a verified copy of `name` in raw_dir; return the source it came from."""
    target = raw_dir / name
    if target.is_file():
        if sha256_of(target) == expected:
            return "already present"
        target.unlink()
    raw_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".tmp-{name}")
    failures = []
    try:
        for source in places:
            try:
                fetch_from(source, name, tmp, timeout)
            except (OSError, urllib.error.URLError, http.client.HTTPException, ValueError) as exc:
                failures.append(f"{source}: {getattr(exc, 'reason', exc)}")
                continue
            actual = sha256_of(tmp)
            if actual == expected:
                os.replace(tmp, target)
                return source
            failures.append(f"{source}: checksum mismatch (got {actual[:12]}..., expected {expected[:12]}...)")
    finally:
        tmp.unlink(missing_ok=True)
    raise common.PipelineError(
        f"could not fetch {name} from any source ({'; '.join(failures) or 'no sources configured'}); "
        f"point {MIRROR_ENV} at a directory holding the original files, "
        f"e.g. `{MIRROR_ENV}=../shared/data/mnist dvc repro`"
    )


def main() -> None:
    mirrors, timeout, sums = read_params()
    places = sources(mirrors)
    for name, expected in sums.items():
        origin = fetch_file(name, expected, places, common.RAW_DIR, timeout)
        print(f"{name}: ok ({origin})")


if __name__ == "__main__":
    sys.exit(common.run(main))
