"""Pipeline: `make verify-remote` (maintenance.verify_cache --remote) with the real DVC and git: the DVC remote's
copy of each file dvc.lock names is rehashed, each damaged or missing one named by its path in dvc.lock with the
fix, and the fix followed until the remote verifies and a fresh clone's `dvc pull` works again.

One project (tiny synthetic data) is reproduced, committed and pushed with `make push` to its default remote, a
folder under a temporary home; each test that damages that remote puts it back as pushed. The S3 case goes through
moto's S3 server on localhost.
"""

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from classifier import cluster, paths
from tests.support import s3
from tests.support.project import Project, new_project
from tests.support.s3 import use_s3

s3_endpoint = s3.s3_endpoint  # moto's S3 server, module-scoped: one for this module's tests
# What `make` needs in the copy besides the pipeline: the Makefile, and what its setup stamp depends on
MAKE_FILES = ("Makefile", "requirements.txt", "pyproject.toml")
MEND = (
    "`make push` uploads only what a remote lacks, and no file of a folder whose list of files it has, so first "
    "`python -m maintenance.verify_cache --remote {remote} --delete-damaged` (it deletes the damaged files, and the "
    "list of files of each folder with a damaged or missing file), then run `make verify-cache` and "
    "`make push{make_arg}` in a clone whose DVC cache holds good copies"
)
DEFAULT_MEND = MEND.format(remote="user-cache", make_arg="")
ROT = b"bit rot"


def make(project: Project, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return project.run("make", "--no-print-directory", *args, check=check)


def verify(project: Project, *args: str) -> subprocess.CompletedProcess:
    return project.run(sys.executable, "-m", "maintenance.verify_cache", "--remote", *args, check=False)


def lines(result: subprocess.CompletedProcess) -> list[str]:
    """What a failed command printed on stderr, without make's own `make: *** ... Error 1`. The tool exits 1;
    make, whose recipe failed, 2."""
    assert result.returncode == (2 if result.args[0] == "make" else 1), result.stdout + result.stderr
    return [line for line in result.stderr.splitlines() if not line.startswith("make: ***")]


def locked(project: Project) -> dict[str, str]:
    """Path -> md5 of every output that dvc.lock records."""
    lock = yaml.safe_load((project.root / "dvc.lock").read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


def stored(files: Path, md5: str) -> Path:
    """Where a folder of files by MD5 (a remote's or a cache's) keeps this MD5's file (`...dir`: a folder's list)."""
    return files / md5[:2] / md5[2:]


def listed(project: Project, folder: str) -> dict[str, str]:
    """relpath -> md5 of each file of a folder output, from its list of files in the project's DVC cache."""
    manifest = stored(project.root / ".dvc" / "cache" / "files" / "md5", locked(project)[folder])
    return {entry["relpath"]: entry["md5"] for entry in json.loads(manifest.read_text())}


def damage(path: Path) -> None:
    """New bytes under the old name, left read-only as DVC wrote it (so DVC trusts it without reading it)."""
    path.chmod(0o644)
    path.write_bytes(ROT)
    path.chmod(0o444)


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    """A project reproduced, committed and pushed with `make push` to its default remote under a temporary home;
    `files` is that remote's folder of files by MD5."""
    base = tmp_path_factory.mktemp("verify-remote")
    project = new_project(base / "origin", base / "mirror", home=base / "home")
    for name in MAKE_FILES:
        shutil.copy(paths.ROOT / name, project.root / name)
    (project.root / ".venv").mkdir()
    (project.root / ".venv" / ".installed-requirements").touch()  # `make setup` done: the test's venv is on PATH
    project.dvc("repro")
    project.commit("baseline")
    make(project, "push")
    project.files = project.home / ".cache" / "dvc-remotes" / "mnist-cnn" / "files" / "md5"
    return project


@pytest.fixture
def remote(origin, tmp_path):
    """The default remote's folder of files by MD5, put back as pushed after the test."""
    saved = tmp_path / "as-pushed"
    shutil.copytree(origin.files, saved)
    yield origin.files
    shutil.rmtree(origin.files)
    shutil.copytree(saved, origin.files)


def test_a_remote_that_make_push_filled_verifies(origin, remote):
    result = make(origin, "verify-remote")
    assert re.fullmatch(
        r"every file dvc.lock names is on the DVC remote 'user-cache' and matches its hash \(\d+ files\)",
        result.stdout.strip().splitlines()[-1],
    ), result.stdout
    assert result.stderr == ""


def test_a_damaged_file_is_named_as_damaged_where_dvc_pull_only_says_checkout_failed(origin, remote, tmp_path):
    model = stored(remote, locked(origin)["models/model.h5"])
    damage(model)
    assert lines(make(origin, "verify-remote", check=False)) == [
        f"damaged on the DVC remote 'user-cache': models/model.h5 ({model})",
        f"error: 1 file damaged on the DVC remote 'user-cache'; {DEFAULT_MEND}",
    ]
    clone = origin.clone(str(origin.root), tmp_path / "clone")
    clone.dvc("remote", "modify", "--local", "user-cache", "verify", "true")  # a pull rehashes what it downloads
    pulled = clone.run(sys.executable, "-m", "dvc", "pull", check=False)
    assert pulled.returncode != 0
    assert "Checkout failed for following targets:\nmodels/model.h5\nIs your cache up to date?" in pulled.stderr
    assert lines(clone.run(sys.executable, "-m", "maintenance.ci_pull", check=False)) == [
        "error: files that dvc.lock names are damaged on the DVC remote 'user-cache', or missing from a folder it "
        f"holds: models/model.h5; {DEFAULT_MEND}"
    ]


def test_a_deleted_file_is_named_as_missing_and_make_push_uploads_it(origin, remote):
    stored(remote, locked(origin)["models/model.onnx"]).unlink()
    assert lines(make(origin, "verify-remote", check=False)) == [
        "missing on the DVC remote 'user-cache': models/model.onnx (not pushed)",
        "error: 1 file missing on the DVC remote 'user-cache'; run `make push` in the clone that made them",
    ]
    make(origin, "push")
    assert make(origin, "verify-remote").stderr == ""


def test_the_printed_fix_mends_damage_in_and_beside_folders_and_a_fresh_clone_pulls(origin, remote, tmp_path):
    lock = locked(origin)
    damaged_npz, damaged_md5 = next(iter(listed(origin, "data/processed").items()))
    lost_idx, lost_md5 = next(iter(listed(origin, "data/raw").items()))
    damage(stored(remote, lock["models/model.h5"]))
    damage(stored(remote, damaged_md5))
    stored(remote, lost_md5).unlink()
    found = lines(make(origin, "verify-remote", check=False))
    assert sorted(found[:-1]) == [
        f"damaged on the DVC remote 'user-cache': data/processed/{damaged_npz} ({stored(remote, damaged_md5)})",
        f"damaged on the DVC remote 'user-cache': models/model.h5 ({stored(remote, lock['models/model.h5'])})",
        f"missing on the DVC remote 'user-cache': data/raw/{lost_idx} (its folder was pushed without it)",
    ]
    assert found[-1] == f"error: 2 files damaged, 1 file missing on the DVC remote 'user-cache'; {DEFAULT_MEND}"

    deleting = lines(verify(origin, "user-cache", "--delete-damaged"))
    assert sorted(line for line in deleting if line.startswith("deleted")) == [
        f"deleted from the DVC remote 'user-cache': data/processed/{damaged_npz} ({stored(remote, damaged_md5)})",
        f"deleted from the DVC remote 'user-cache': models/model.h5 ({stored(remote, lock['models/model.h5'])})",
        f"deleted from the DVC remote 'user-cache': the list of files of data/processed "
        f"({stored(remote, lock['data/processed'])})",
        f"deleted from the DVC remote 'user-cache': the list of files of data/raw ({stored(remote, lock['data/raw'])})",
    ]
    assert deleting[-1] == (
        "error: 2 files damaged, 1 file missing on the DVC remote 'user-cache', and 4 files deleted there; "
        "run `make verify-cache` and `make push` in a clone whose DVC cache holds good copies, "
        "then `make verify-remote`"
    )
    make(origin, "verify-cache")
    make(origin, "push")
    assert make(origin, "verify-remote").stderr == ""

    clone = origin.clone(str(origin.root), tmp_path / "clone")
    clone.dvc("pull")
    model = (clone.root / "models" / "model.h5").read_bytes()
    assert hashlib.md5(model).hexdigest() == lock["models/model.h5"]
    assert json.loads(clone.dvc("status", "--json")) == {}


def test_a_damaged_file_on_s3_is_named_and_mended_the_same_way(origin, s3_endpoint, tmp_path):
    use_s3(origin, s3_endpoint)
    make(origin, "push", "REMOTE=team")
    md5 = locked(origin)["models/model.h5"]
    s3.client(s3_endpoint).put_object(Bucket=s3.BUCKET, Key=f"dvcstore/files/md5/{md5[:2]}/{md5[2:]}", Body=ROT)
    assert lines(make(origin, "verify-remote", "REMOTE=team", check=False)) == [
        f"damaged on the DVC remote 'team': models/model.h5 ({s3.REMOTE_URL}/files/md5/{md5[:2]}/{md5[2:]})",
        f"error: 1 file damaged on the DVC remote 'team'; {MEND.format(remote='team', make_arg=' REMOTE=team')}",
    ]
    verify(origin, "team", "--delete-damaged")
    make(origin, "push", "REMOTE=team")
    verified = make(origin, "verify-remote", "REMOTE=team").stdout
    assert re.search(r"is on the DVC remote 'team' and matches its hash \(\d+ files\)$", verified), verified

    teammate = origin.clone(str(origin.root), tmp_path / "teammate")
    use_s3(teammate, s3_endpoint)
    teammate.dvc("pull", "-r", "team")
    assert hashlib.md5((teammate.root / "models" / "model.h5").read_bytes()).hexdigest() == md5


def test_a_bad_remote_name_an_unreachable_remote_and_an_empty_one_are_one_line_each(origin, tmp_path):
    clone = origin.clone(str(origin.root), tmp_path / "clone")
    assert lines(verify(clone, "nosuch")) == [
        "error: no DVC remote named 'nosuch' (this project's remotes: user-cache); name one of them, "
        "or add it with `dvc remote add`"
    ]
    clone.dvc("remote", "add", "down", s3.REMOTE_URL)
    clone.dvc("remote", "modify", "down", "endpointurl", f"http://127.0.0.1:{cluster.free_ports(1)[0]}")
    clone.dvc("remote", "modify", "--local", "down", "access_key_id", "testing")
    clone.dvc("remote", "modify", "--local", "down", "secret_access_key", "testing")
    [unreachable] = lines(verify(clone, "down"))
    assert unreachable.startswith(f"error: cannot reach the DVC remote 'down' ({s3.REMOTE_URL}): ")
    assert unreachable.endswith(
        "; check its URL (`dvc remote list`), the network, and its credentials (`dvc remote modify --local`)"
    )
    empty = tmp_path / "empty-remote"
    clone.dvc("remote", "add", "empty", str(empty))
    assert lines(verify(clone, "empty")) == [
        f"error: the DVC remote 'empty' ({empty}) holds no files ({empty}/files/md5 is absent): nobody pushed there "
        "yet, or its URL is wrong; check it with `dvc remote list`, then `make push REMOTE=empty`"
    ]
