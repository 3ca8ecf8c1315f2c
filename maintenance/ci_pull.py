"""CI's proof that a pull request's author pushed what its dvc.lock names: `dvc pull` from the team remote.

Usage: python -m maintenance.ci_pull [-r REMOTE]   (`make ci-pull`; the review job of .github/workflows/ci.yml
and .gitlab-ci.yml runs it; default: the project's default remote)

Reads dvc.lock, .dvc/config (and .dvc/config.local) and the CI's environment; writes the outputs it pulls
(the dataset, the model, the training environment) into the workspace and DVC's cache.

A fresh clone has none of the cached outputs that dvc.lock records; they come from the DVC remote, where
`make push` put them. This pulls them, then asks which outputs of the lock are still absent or that the
remote does not hold, and fails in one line naming them, as dvc.lock names them, and the fix (`make push`
in the clone that made them). When the pull failed, the remote's copies of the outputs still absent are
rehashed (maintenance.verify_cache): a file that is there but damaged, which `dvc pull` refuses as if it did
"not exist neither locally nor on remote", is named as damaged, with the fix for that. When the pull cannot
be tried it says why and exits 0: an S3 remote with no credentials (a fork's pull request gets no secrets),
or a remote folder that is not on this machine (the project's default remote is a folder in the user's
cache, which a CI runner does not have).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path

from classifier import errors, paths
from maintenance import verify_cache

FIX = "run `make push` in the clone that ran them (dvc push --run-cache), then run this job again"


def notice(message: str) -> None:
    """A line saying why nothing was pulled; on GitHub Actions, an annotation on the run's summary."""
    print(f"::notice::{message}" if os.environ.get("GITHUB_ACTIONS") == "true" else message)


def s3_credentials(config: dict) -> bool:
    """Whether boto would find credentials for an S3 remote: in its config (.dvc/config.local), the environment
    (AWS_ACCESS_KEY_ID, AWS_PROFILE, a web identity token from OIDC) or ~/.aws. The instance metadata service is
    not asked: that is a network call, and a runner with an instance role can name it in the remote's config."""
    if config.get("access_key_id") or config.get("credentialpath"):
        return True
    import botocore.exceptions
    import botocore.session

    session = botocore.session.Session(profile=config.get("profile"))
    session.get_component("credential_provider").remove("iam-role")
    try:
        return session.get_credentials() is not None
    except botocore.exceptions.BotoCoreError:  # a profile that does not exist, a malformed ~/.aws/config
        return False


def skip_reason(repo, name: str | None) -> tuple[str, str | None]:
    """(the remote's name, why the pull cannot be tried here or None)."""
    from dvc.fs import get_cloud_fs

    name = name or repo.config["core"].get("remote")
    if not name:
        return "", "no DVC remote is configured (`dvc remote list` is empty): nothing to pull"
    cls, _, fs_path = get_cloud_fs(repo.config, name=name)
    remote = repo.config["remote"][name]
    if cls.protocol == "s3" and not s3_credentials(remote):
        return name, (
            f"no credentials for the S3 remote '{name}' ({remote['url']}): `dvc pull` skipped; CI takes them from "
            "the secrets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, which a fork's pull request does not get"
        )
    if cls.protocol == "local" and not Path(fs_path).is_dir():
        return name, (
            f"the DVC remote '{name}' is a folder that is not on this machine ({fs_path}): `dvc pull` skipped; "
            "point the project at a team remote to check pushes in CI (docs/ci.md)"
        )
    return name, None


def missing_outputs(repo, remote: str, pull_failed: bool) -> list[str]:
    """The cached outputs dvc.lock records that the remote does not hold, by their paths in dvc.lock. After a
    failed pull, the remote's copies of those still not in the workspace are rehashed, and a UserError names
    any damaged; otherwise the remote is asked (the workspace or the cache may have had them before the pull:
    a persistent runner, a developer's clone)."""
    outs = verify_cache.cached_outs(repo)
    if pull_failed:
        check = verify_cache.check_remote(repo, remote, [out for out in outs if out.status()])
        if check.to_delete():
            mended = [finding.name for finding in check.damaged] + [f.name for f in check.missing if f.folder]
            raise errors.UserError(
                f"files that dvc.lock names are damaged on the DVC remote '{remote}', or missing from a folder it "
                f"holds: {', '.join(mended)}; {verify_cache.mend_fix(check)}"
            )
        return sorted({str(finding.out.def_path) for finding in check.missing})
    absent = [path for path, state in repo.status(cloud=True, remote=remote).items() if state in ("new", "missing")]
    return sorted(
        str(out.def_path)
        for out in outs
        if any(path == out.def_path or path.startswith(f"{out.def_path}/") for path in absent)
    )


@contextlib.contextmanager
def quiet(*names: str):
    """Only errors from these loggers during the block."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def pull(root: Path, remote: str | None) -> tuple[bool, str]:
    """Pull the lock's outputs from `remote`: (whether it was tried, what happened, in one line). A UserError
    names the outputs that the remote lacks."""
    from dvc.exceptions import CheckoutError, DvcException
    from dvc.repo import Repo

    name = remote or "default"
    try:
        with contextlib.chdir(root), Repo(str(root)) as repo:
            name, reason = skip_reason(repo, remote)
            if reason:
                return False, reason
            failed, result = False, {}
            try:
                with quiet("dvc", "dvc_data"):  # their warning lists the missing files by MD5; the error names them
                    result = repo.pull(remote=name)
            except CheckoutError:  # "Some of the cache files do not exist neither locally nor on remote"
                failed = True
            missing = missing_outputs(repo, name, failed)
    except DvcException as exc:
        raise errors.UserError(
            f"dvc pull from the DVC remote '{name}' failed ({errors.first_line(exc)}); "
            "check its URL (`dvc remote list`) and the CI secrets it needs (docs/ci.md)"
        )
    if missing:
        raise errors.UserError(
            f"dvc.lock names outputs that the DVC remote '{name}' does not have: {', '.join(missing)}; {FIX}"
        )
    if failed:
        raise errors.UserError(
            f"dvc pull from the DVC remote '{name}' could not check out every output; run it "
            "by hand (`dvc pull -v`) to see why"
        )
    fetched = result.get("stats", {}).get("fetched", 0)
    return True, f"every output dvc.lock names is on the DVC remote '{name}' ({fetched} files pulled)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-r", "--remote", help="DVC remote to pull from (default: the project's default remote)")
    pulled, message = pull(paths.ROOT, parser.parse_args(argv).remote)
    if pulled:
        print(message)
    else:
        notice(message)


if __name__ == "__main__":
    sys.exit(errors.run(main))
