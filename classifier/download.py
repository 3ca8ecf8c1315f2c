"""Fetching the dataset's files: from $MNIST_MIRROR or the mirrors in turn, within a size cap and a deadline,
each file checked against its pinned SHA-256 before it lands under its final name."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import NamedTuple

from tqdm import tqdm

from classifier.errors import UserError

MIRROR_ENV = "MNIST_MIRROR"
CHUNK = 1 << 16


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


def copy_local(source: str, name: str, dest: Path, max_bytes: int) -> None:
    path = Path(source).expanduser() / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    if path.stat().st_size > max_bytes:
        raise ValueError(f"{path} is {path.stat().st_size / 2**20:.1f} MB, over fetch.max_mb")
    shutil.copyfile(path, dest)


class Limits(NamedTuple):
    timeout_s: float  # a read that waits this long fails
    deadline_s: float  # one file from one source, in all
    max_bytes: int  # one file


def shown(source: str) -> str:
    """`source` as it may be printed: a password in a URL is replaced by ***."""
    parts = urllib.parse.urlsplit(source)
    if not parts.password:
        return source
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


def request_for(url: str) -> urllib.request.Request:
    """A request for `url`; a `user:password@` in it is sent as Basic authentication, never as part of the URL
    (where urllib would read the password as a port and print it in its error)."""
    parts = urllib.parse.urlsplit(url)
    headers = {"User-Agent": "mnist-dvc-pipeline"}
    if parts.username is not None:
        user, password = urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or "")
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        url = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    return urllib.request.Request(url, headers=headers)


def download(url: str, dest: Path, limits: Limits) -> None:
    """Stream `url` into `dest`, showing a progress bar on stderr; fail past the deadline or the size cap."""
    request = request_for(url)
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=limits.timeout_s) as response, dest.open("wb") as out:
        size = int(response.headers.get("Content-Length") or 0) or None
        if size and size > limits.max_bytes:
            raise ValueError(f"it announces {size / 2**20:.1f} MB, over fetch.max_mb")
        received = 0
        with tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            desc=dest.name.removeprefix(".tmp-"),
            file=sys.stderr,
            mininterval=0.5,
        ) as bar:
            for block in iter(lambda: response.read1(CHUNK), b""):  # read1: whatever has arrived, not a full CHUNK
                received += len(block)
                if received > limits.max_bytes:
                    raise ValueError(f"it sent over {limits.max_bytes / 2**20:g} MB (fetch.max_mb)")
                if time.monotonic() - started > limits.deadline_s:
                    raise TimeoutError(f"still downloading after {limits.deadline_s:g} s (fetch.deadline_s)")
                out.write(block)
                bar.update(len(block))


def fetch_from(source: str, name: str, dest: Path, limits: Limits) -> None:
    if is_url(source):
        download(source.rstrip("/") + "/" + name, dest, limits)
    else:
        copy_local(source, name, dest, limits.max_bytes)


def fetch_file(name: str, expected: str, places: list[str], raw_dir: Path, limits: Limits) -> str:
    """Put a verified copy of `name` in raw_dir; return the source it came from (as it may be printed)."""
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
                fetch_from(source, name, tmp, limits)
            except (OSError, urllib.error.URLError, http.client.HTTPException, ValueError) as exc:
                failures.append(f"{shown(source)}: {getattr(exc, 'reason', exc)}")
                continue
            actual = sha256_of(tmp)
            if actual == expected:
                os.replace(tmp, target)
                return shown(source)
            failures.append(f"{shown(source)}: checksum mismatch (got {actual[:12]}..., expected {expected[:12]}...)")
    finally:
        tmp.unlink(missing_ok=True)
    raise UserError(
        f"could not fetch {name} from any source ({'; '.join(failures) or 'no sources configured'}); "
        f"point {MIRROR_ENV} at a directory holding the original files, "
        f"e.g. `{MIRROR_ENV}=../shared/data/mnist dvc repro`"
    )
