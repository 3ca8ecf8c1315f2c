"""Code: maintenance.verify_cache rehashes a real DVC cache, removes a damaged entry, leaves DVC's temporary files."""

import hashlib
import subprocess
import sys

import pytest

from classifier import errors
from maintenance import verify_cache


def put(cache, data: bytes, name: str | None = None):
    md5 = hashlib.md5(data).hexdigest()
    path = cache / md5[:2] / (name or md5[2:])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_damaged_entry_is_named_and_removed_and_temporary_files_are_left(tmp_path):
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    cache = tmp_path / ".dvc" / "cache" / "files" / "md5"
    good = put(cache, b"good bytes")
    damaged = put(cache, b"what was cached")
    damaged.write_bytes(b"bit rot")
    in_flight = put(cache, b"a download", name=".abc123.tmp")
    assert [path for _, path in verify_cache.damaged(tmp_path)] == [damaged]
    with pytest.raises(errors.UserError, match="damaged in DVC's cache, removed: cache entry "):
        verify_cache.verify(tmp_path)
    assert not damaged.exists() and good.exists() and in_flight.exists()
    verify_cache.verify(tmp_path)  # all good now: no error


def test_a_folder_that_is_no_dvc_project_is_one_line(tmp_path):
    with pytest.raises(errors.UserError, match="is not a readable DVC project"):
        verify_cache.verify(tmp_path)
