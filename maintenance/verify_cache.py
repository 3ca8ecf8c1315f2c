"""Find damaged files in DVC's local cache, name them and remove them, so that `dvc pull` or `dvc repro` brings
the good bytes back; or, with --remote, find the damaged and the missing files of a DVC remote.

Usage: python -m maintenance.verify_cache [REPO]   (`make verify-cache`; `make push` runs it before pushing)
       python -m maintenance.verify_cache [REPO] --remote [NAME] [--delete-damaged]   (`make verify-remote`)

DVC names each cache file by the MD5 of its bytes, and in 3.67 trusts a read-only one without reading it again
(DVC issue #5978): a damaged copy (bit rot, a write by root, a restore that kept file modes) is checked out as
if good by `dvc checkout`, `dvc pull` and `dvc repro` (from the run cache), and `dvc push` uploads it under
the good name, so that every teammate's pull gets it. This rehashes every file in the cache. A damaged one is
named, by the workspace path dvc.lock gives it where it has one, and deleted: DVC then sees it as missing,
and `dvc pull` or `dvc repro` restores it. Exit 0 when every file is good, 1 otherwise.

With --remote it reads dvc.lock (and .dvc/config, .dvc/config.local) and, through DVC's own file systems (a
folder, S3, GCS, SSH), the remote's copy of each cached output that dvc.lock records, and for a folder output
its list of files (its `.dir` manifest, from the remote) and each file in it. It rehashes them, streamed, and
names each one damaged (there, but not the bytes its name promises: `dvc pull` checks it out as if good, or,
with the remote's `verify` option on, refuses it as if nobody had pushed it) or missing (never pushed), by its
path in dvc.lock, one line each on stderr, then the fix in one line; exit 0 when all are there and good, 1
otherwise. It writes nothing, except that --delete-damaged deletes from the remote each damaged file and the
list of files of each folder output with a damaged or missing file: `make push` uploads only what a remote
lacks, and no file of a folder whose list it has, so a damaged copy stays until it is deleted; the push of a
good one from a clone then replaces it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

import yaml

from classifier import errors, paths

if TYPE_CHECKING:
    from dvc.output import Output
    from dvc.repo import Repo
    from dvc_data.hashfile.db import HashFileDB

ENTRY = re.compile(r"[0-9a-f]{30}(\.dir)?")  # a cache file's name under its 2-hex folder; DVC's own
# temporary files (.<token>.tmp, left by a killed pull or repro) are not entries and are skipped
FIX = "restore them with `dvc pull` (or `dvc repro` where no remote holds them), then `dvc checkout --relink`"
CHUNK = 1 << 20  # bytes read at a time: a file of any size is hashed in bounded memory, from disk or a remote


def open_repo(root: Path) -> Repo:
    """DVC's Repo at `root` (a context manager), or a UserError that says it is none."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        return Repo(str(root))
    except DvcException as exc:
        raise errors.UserError(f"{root} is not a readable DVC project ({exc}); run this in a clone of it")


def cache_dir(root: Path) -> Path:
    """The folder DVC keeps its files in, by MD5 (.dvc/cache/files/md5 unless `dvc cache dir` moved it)."""
    with open_repo(root) as repo:
        return Path(repo.cache.local.path)


def md5_of_stream(stream: BinaryIO) -> str:
    """The MD5 of what a binary file (a local one, or one a DVC remote's file system opened) holds."""
    digest = hashlib.md5()
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def md5_of(path: Path) -> str:
    with path.open("rb") as f:
        return md5_of_stream(f)


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


class Finding(NamedTuple):
    """A file dvc.lock names that a remote holds damaged, or not at all."""

    out: Output  # the output of dvc.lock it is, or belongs to
    name: str  # its path in dvc.lock; for a file of a folder output, the folder's path and the file's relpath
    oid: str  # its MD5 (a folder's list of files: the MD5 and `.dir`)
    location: str  # where the remote keeps it: a path, or a URL such as s3://bucket/...
    folder: str | None  # for a file of a folder output, the MD5 of the folder's list of files (`.dir`)


@dataclass
class RemoteCheck:
    """What check_remote found on one remote."""

    name: str
    url: str
    odb: HashFileDB
    make_arg: str  # what `make push` and `make verify-remote` need to use this remote: "" for the default one
    checked: int = 0  # files rehashed or found missing, each MD5 once
    damaged: list[Finding] = field(default_factory=list)
    missing: list[Finding] = field(default_factory=list)

    def to_delete(self) -> dict[str, str]:
        """MD5 -> what it is, of each file that must go before `make push` can mend the remote: the damaged
        ones, and the list of files of each folder output with a damaged or missing file (while the remote has
        a folder's list, `dvc push` takes the folder to be complete there and uploads none of its files)."""
        doomed = {finding.oid: finding.name for finding in self.damaged}
        for finding in self.damaged + self.missing:
            if finding.folder:
                doomed[finding.folder] = f"the list of files of {finding.out.def_path}"
        return doomed


def cached_outs(repo: Repo) -> list[Output]:
    """The outputs that dvc.lock (and any .dvc file) records and `dvc push` uploads."""
    outs = (out for stage in repo.index.stages for out in stage.outs)
    return [out for out in outs if out.use_cache and out.can_push and out.hash_info]


def make_arg(repo: Repo, name: str) -> str:
    """What `make push` and `make verify-remote` need to use remote `name`: nothing for the default one."""
    return "" if name == repo.config["core"].get("remote") else f" REMOTE={name}"


def remote_odb(repo: Repo, name: str | None) -> tuple[str, str, HashFileDB]:
    """(name, URL, the files by MD5) of remote `name`, the default one when None; a UserError when there is no
    such remote, or it cannot be reached or holds no files at all."""
    from dvc.exceptions import DvcException

    remotes = repo.config["remote"]
    name = name or repo.config["core"].get("remote")
    known = ", ".join(remotes) or "none"
    if not name:
        raise errors.UserError(
            f"this project has no default DVC remote (its remotes: {known}); name one with --remote NAME, "
            "or set one with `dvc remote default NAME`"
        )
    if name not in remotes:
        raise errors.UserError(
            f"no DVC remote named '{name}' (this project's remotes: {known}); name one of them, "
            "or add it with `dvc remote add`"
        )
    url = remotes[name]["url"]
    try:
        odb = repo.cloud.get_remote_odb(name, command="verify")
        reachable = odb.fs.exists(odb.path)
    except DvcException as exc:
        raise errors.UserError(f"DVC cannot use the remote '{name}' ({url}): {exc}; fix it with `dvc remote modify`")
    except Exception as exc:  # an unreachable remote raises its client's own errors (botocore's, asyncssh's)
        raise errors.UserError(
            f"cannot reach the DVC remote '{name}' ({url}): {errors.first_line(exc)}; check its URL "
            "(`dvc remote list`), the network, and its credentials (`dvc remote modify --local`)"
        )
    if not reachable:
        raise errors.UserError(
            f"the DVC remote '{name}' ({url}) holds no files ({odb.fs.unstrip_protocol(odb.path)} is absent): "
            f"nobody pushed there yet, or its URL is wrong; check it with `dvc remote list`, then "
            f"`make push{make_arg(repo, name)}`"
        )
    return name, url, odb


def check_remote(repo: Repo, name: str | None, outs: list[Output] | None = None) -> RemoteCheck:
    """Rehash on remote `name` (the default one when None) each file of `outs` (every cached output of dvc.lock
    when None): the file, or a folder's list of files and each file it lists."""
    name, url, odb = remote_odb(repo, name)
    check = RemoteCheck(name, url, odb, make_arg(repo, name))
    states: dict[str, str] = {}  # MD5 -> good, damaged or missing: a file several outputs share is read once

    def rehash(out: Output, path_in_lock: str, oid: str, folder: str | None = None) -> bool:
        if oid not in states:
            try:
                with odb.fs.open(odb.oid_to_path(oid), "rb") as f:
                    states[oid] = "good" if md5_of_stream(f) == oid.removesuffix(".dir") else "damaged"
            except FileNotFoundError:
                states[oid] = "missing"
        if states[oid] != "good":
            found = check.damaged if states[oid] == "damaged" else check.missing
            found.append(Finding(out, path_in_lock, oid, odb.fs.unstrip_protocol(odb.oid_to_path(oid)), folder))
        return states[oid] == "good"

    try:
        for out in cached_outs(repo) if outs is None else outs:
            oid = out.hash_info.value
            if rehash(out, str(out.def_path), oid) and out.hash_info.isdir:
                with odb.fs.open(odb.oid_to_path(oid), "rb") as f:
                    entries = json.load(f)
                for entry in entries:
                    rehash(out, f"{out.def_path}/{entry['relpath']}", entry["md5"], folder=oid)
    except OSError as exc:
        raise errors.UserError(
            f"reading the DVC remote '{name}' ({url}) failed: {errors.first_line(exc)}; check its credentials "
            "(`dvc remote modify --local`) and run this again"
        )
    check.checked = len(states)
    return check


def push_good(check: RemoteCheck) -> str:
    return f"run `make verify-cache` and `make push{check.make_arg}` in a clone whose DVC cache holds good copies"


def mend_fix(check: RemoteCheck) -> str:
    """How to replace damaged files on a remote: `make push` alone skips a file, or a folder, the remote has."""
    return (
        "`make push` uploads only what a remote lacks, and no file of a folder whose list of files it has, so "
        f"first `python -m maintenance.verify_cache --remote {check.name} --delete-damaged` (it deletes the "
        f"damaged files, and the list of files of each folder with a damaged or missing file), then {push_good(check)}"
    )


def verify_remote(root: Path, name: str | None, delete: bool) -> str:
    """Rehash every file dvc.lock names on the remote; name each damaged or missing one on stderr (and, with
    `delete`, delete what must go before a push can mend it), then fail in one line with the fix; or say that
    all are good."""
    with open_repo(root) as repo:
        check = check_remote(repo, name)
        where = f"on the DVC remote '{check.name}'"
        for finding in check.damaged:
            print(f"damaged {where}: {finding.name} ({finding.location})", file=sys.stderr)
        for finding in check.missing:
            why = "its folder was pushed without it" if finding.folder else "not pushed"
            print(f"missing {where}: {finding.name} ({why})", file=sys.stderr)
        doomed = check.to_delete()
        deleted = []
        for oid, what in doomed.items() if delete else ():
            try:
                check.odb.delete(oid)
            except OSError as exc:
                print(f"could not delete {what} from the DVC remote: {errors.os_error_line(exc)}", file=sys.stderr)
                continue
            deleted.append(oid)
            location = check.odb.fs.unstrip_protocol(check.odb.oid_to_path(oid))
            print(f"deleted from the DVC remote '{check.name}': {what} ({location})", file=sys.stderr)
    found = ", ".join(
        f"{files(len(findings))} {state}"
        for state, findings in (("damaged", check.damaged), ("missing", check.missing))
        if findings
    )
    if doomed and len(deleted) == len(doomed):
        raise errors.UserError(
            f"{found} {where}, and {files(len(deleted))} deleted there; {push_good(check)}, "
            f"then `make verify-remote{check.make_arg}`"
        )
    if doomed:
        raise errors.UserError(f"{found} {where}; {mend_fix(check)}")
    if check.missing:
        raise errors.UserError(f"{found} {where}; run `make push{check.make_arg}` in the clone that made them")
    return f"every file dvc.lock names is {where} and matches its hash ({files(check.checked)})"


def files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", nargs="?", type=Path, default=paths.ROOT)
    parser.add_argument(
        "--remote",
        nargs="?",
        const="",
        metavar="NAME",
        help="rehash the files dvc.lock names on this DVC remote (default: the project's default remote) instead "
        "of the local cache",
    )
    parser.add_argument(
        "--delete-damaged",
        action="store_true",
        help="with --remote: delete each damaged file from the remote, so that `make push` uploads a good copy",
    )
    args = parser.parse_args(argv)
    if args.remote is None:
        if args.delete_damaged:
            parser.error("--delete-damaged works with --remote only (without it, damaged cache files are deleted)")
        verify(args.repo)
        print("every file in DVC's cache matches its hash")
    else:
        print(verify_remote(args.repo, args.remote or None, args.delete_damaged))


if __name__ == "__main__":
    sys.exit(errors.run(main))
