"""Share this clone's results: `dvc push --run-cache`, plus the files its run records point to.

Usage: python -m maintenance.push [-r REMOTE]   (`make push`; default: the project's default remote)

`dvc push --run-cache` uploads the data and model of the workspace and the records of every stage run here
(the run cache), but in DVC 3.67 not the metrics and plots those records name, because they are kept in
git (`cache: false`), not in DVC's cache. Without them a teammate's `dvc repro --pull` finds a record for
params nobody committed (an experiment's, say) yet cannot restore it, and trains again. This pushes those
files too, through DVC's own API, so that every run pushed here is restored elsewhere instead of rerun.
First it rehashes DVC's cache (maintenance.verify_cache) and pushes nothing if a file there is damaged.
"""

from __future__ import annotations

import argparse
import sys

from classifier import errors, paths
from maintenance import verify_cache


def push(remote: str | None) -> tuple[int, int]:
    """Push the workspace and the run cache, then the run records' own files: (files pushed, run records)."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(paths.ROOT)) as repo:
            pushed = repo.push(remote=remote)  # the workspace's data and model, as `dvc push`
            runs = repo.stage_cache.push(remote)  # the run records, as `--run-cache` adds
            for odb, objects in repo.stage_cache.get_used_objs(runs).items():
                result = repo.cloud.push(objects, remote=remote, odb=odb)
                if result.failed:
                    raise errors.UserError(
                        f"{len(result.failed)} files of the run cache failed to upload; "
                        "check the remote (`dvc remote list`) and run `make push` again"
                    )
                pushed += len(result.transferred)
    except DvcException as exc:
        raise errors.UserError(f"dvc push failed ({exc}); check the remote with `dvc remote list`")
    return pushed, len(runs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-r", "--remote", help="DVC remote to push to (default: the project's default remote)")
    remote = parser.parse_args(argv).remote
    verify_cache.verify(paths.ROOT)  # a damaged cache file would be uploaded under its good name
    pushed, runs = push(remote)
    print(f"{pushed} files pushed; {runs} stage runs in the run cache")


if __name__ == "__main__":
    sys.exit(errors.run(main))
