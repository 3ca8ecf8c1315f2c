"""Grid sweeps on DVC's own engines: its `-S` sweep syntax and experiment queue, git and DVC remotes.

Usage:
  python -m tools.sweep start [-j JOBS]
      after `dvc exp run --queue -S ...` (`make sweep`): `dvc queue start -j JOBS`, then wait for every
      experiment queued; exit 1, naming each failed one and its error, when any failed.
  python -m tools.sweep run --worker K --of N [-j JOBS] [-n NAME] [--remote origin] -S 'train.seed=range(1,5)' ...
      on machine K of N (`make sweep-worker`): run its share of the grid and push the results.
  python -m tools.sweep collect [-n NAME] [--remote origin] -S 'train.seed=range(1,5)' ...
      on any clone (`make sweep-collect`): pull the grid's experiments every machine pushed.

The grid is given as to `dvc exp run --queue`, and DVC's own code expands it, in DVC's order: point i
(from 1) is the experiment NAME-i, the name `dvc exp run --queue -n NAME` gives it on one machine. Machine
K of N takes points K, K+N, K+2N, ... Each machine is a clone of the same git remote at the same commit,
with the same DVC remote. A worker checks that no experiment of its share is on the git remote already,
`dvc pull`s the committed stages' outputs (so no one reruns fetch and preprocess: push them first with
`make push`), queues its points (`dvc exp run --queue -n NAME-i -S ...`), runs them with
`dvc queue start -j JOBS`, then `dvc exp push`es the experiments that succeeded (git refs to the git
remote, models to the DVC remote) and the run cache (`python -m maintenance.push`). The coordinator
`dvc exp pull`s the grid's experiments by name, with their outputs (so `dvc exp apply NAME` gives one's
model), and names any that no machine has pushed yet.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Collection

import psutil

from classifier import errors, paths
from maintenance.push import push as push_run_cache

POLL_S = 3
STALL_S = 60
FINISHED = ("Success", "Failed")
REMOVED = "Removed"
GONE_POLLS = 3
ORPHAN_KILLS = 10  # `dvc queue kill`s, POLL_S apart, before an orphaned experiment must be marked failed


def reason(exc: Exception) -> str:
    """The first line of an exception's message: DVC's and Hydra's go on to list files and links."""
    return str(exc).strip().splitlines()[0].rstrip(":")


def expand(overrides: list[str]) -> list[list[str]]:
    """The grid's points, each as the `-S` values of one experiment, expanded by DVC's own sweep code."""
    from dvc.exceptions import DvcException
    from dvc.utils.cli_parse import to_path_overrides
    from dvc.utils.hydra import get_hydra_sweeps
    from hydra.errors import HydraException

    example = "for example -S 'train.seed=range(1,4)' -S 'train.model.width=0.5,1.0'"
    empty = errors.UserError(f"the grid is empty; give at least one -S with values, {example}")
    if not overrides:
        raise empty
    try:
        sweeps = get_hydra_sweeps(to_path_overrides(overrides))
    except (DvcException, HydraException) as exc:
        raise errors.UserError(
            f"the grid {' '.join(overrides)!r} is not DVC's sweep syntax "
            f"({reason(exc)}); write it as for `dvc exp run --queue`, {example}"
        )
    if not sweeps:
        raise empty
    return [[f"{path}:{value}" for path, values in sweep.items() for value in values] for sweep in sweeps]


def named_points(overrides: list[str], name: str) -> dict[str, list[str]]:
    """Experiment name -> its `-S` values, for every point of the grid: NAME-1, NAME-2, ..."""
    return {f"{name}-{i}": point for i, point in enumerate(expand(overrides), start=1)}


def share(points: dict[str, list[str]], worker: int, of: int) -> dict[str, list[str]]:
    """Machine `worker` of `of`'s points: round robin over the grid, so every point has exactly one machine."""
    if of < 1 or not 1 <= worker <= of:
        raise errors.UserError(
            f"--worker {worker} --of {of}: machines count from 1, so give --of N >= 1 and --worker K with 1 <= K <= N"
        )
    return dict(list(points.items())[worker - 1 :: of])


def check_jobs(jobs: int) -> None:
    if jobs < 1:
        raise errors.UserError(f"-j {jobs}: give the number of experiments to run at a time, 1 or more")


def check_git_remote(remote: str) -> None:
    found = subprocess.run(["git", "remote", "get-url", remote], cwd=paths.ROOT, capture_output=True)
    if found.returncode != 0:
        raise errors.UserError(
            f"this clone has no git remote '{remote}'; every machine of a sweep is a clone "
            "of the shared repo (`git clone <url>`), or name its remote with --remote"
        )


def remote_experiments(remote: str) -> set[str]:
    """Names of the experiments on the git remote that were run from this clone's commit (HEAD)."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(paths.ROOT)) as repo:
            listed = repo.experiments.ls(git_remote=remote)
    except DvcException as exc:
        raise errors.UserError(f"cannot list the experiments on {remote} ({reason(exc)}); check `git remote -v`")
    return {name for experiments in listed.values() for name, _ in experiments}


def pull_shared_stages() -> None:
    """`dvc pull`: the committed stages' outputs, so that the queued experiments skip fetch and preprocess."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    print("dvc pull: the committed stages' outputs")
    try:
        with Repo(str(paths.ROOT)) as repo:
            repo.pull()
    except DvcException as exc:
        raise errors.UserError(
            f"dvc pull failed ({reason(exc)}); the machine that ran the committed pipeline must "
            "push it first (`make push`), to the DVC remote every machine uses"
        )


def queue(points: dict[str, list[str]]) -> None:
    """`dvc exp run --queue -n NAME -S ...` for each point."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    with Repo(str(paths.ROOT)) as repo:
        for name, values in points.items():
            print(f"queue {name}: -S {' -S '.join(values)}")
            try:
                repo.experiments.run(params=values, queue=True, name=name)
            except DvcException as exc:
                raise errors.UserError(f"could not queue {name} ({' '.join(values)}): {reason(exc)}")


def queue_status() -> list[dict]:
    """`dvc queue status`: each task's stash `rev`, `name` and `status` (Queued, Running, Success, Failed)."""
    from dvc.repo import Repo

    with Repo(str(paths.ROOT)) as repo:
        return repo.experiments.celery_queue.status()


def queued(names: Collection[str] | None = None) -> set[str]:
    """The revs of the queued tasks named `names` (None: of every queued task)."""
    return {
        task["rev"]
        for task in queue_status()
        if task["status"] == "Queued" and (names is None or task["name"] in names)
    }


def start(jobs: int) -> None:
    """`dvc queue start -j JOBS`, detached from this process's output: DVC's queue workers are daemons that hold
    the output of the process that started them open (a CI job's log, a pipe) until they exit, which can be
    long after the last experiment."""
    started = subprocess.run(
        [sys.executable, "-m", "dvc", "queue", "start", "-j", str(jobs)],
        cwd=paths.ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if started.returncode != 0:
        raise errors.UserError(f"dvc queue start -j {jobs} failed; run it by hand to see why")
    print(f"dvc queue start -j {jobs}: waiting for the experiments")


def stop_orphans(names: list[str]) -> None:
    """Mark failed the experiments a dead queue worker left Running. DVC does not notice that a worker died: its
    experiment runs on as an orphan whose result no one collects, shown as Running for good. `dvc queue kill`
    stops it (SIGINT to its process group) and, once nothing of it is left, marks it Failed."""
    kill = [sys.executable, "-m", "dvc", "queue", "kill", *names]
    for _ in range(ORPHAN_KILLS):
        subprocess.run(kill, cwd=paths.ROOT, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        if not {task["name"] for task in queue_status() if task["status"] == "Running"} & set(names):
            return
        time.sleep(POLL_S)
    raise errors.UserError(f"{', '.join(names)} still show as running; stop them with `dvc queue kill` by hand")


def queue_worker_processes() -> list[psutil.Process]:
    """This project's DVC queue workers that are still processes (`dvc exp queue-worker`), whether or not they
    answer: an experiment is taken for an orphan only when there are none."""
    workers = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        command = " ".join(process.info["cmdline"] or [])
        cwd = process.info["cwd"] or ""
        if "queue-worker" in command and (cwd == str(paths.ROOT) or cwd.startswith(f"{paths.ROOT}/")):
            workers.append(process)
    return workers


def workers_alive() -> bool:
    """Whether any of DVC's queue workers answers (`dvc queue status`'s worker line). A reply that cannot be read
    counts as no answer: kombu's file-system broker, which DVC's queue uses, can read a message file another
    process is still writing (an empty file: JSONDecodeError), and the next look reads it whole."""
    from dvc.repo import Repo

    with Repo(str(paths.ROOT)) as repo:
        try:
            return bool(repo.experiments.celery_queue.worker_status())
        except ValueError:
            return False


def wait(revs: set[str], jobs: int) -> dict[str, str]:
    """Wait until the queue's tasks `revs` have finished; return each one's name and final status. One look
    at the queue can miss a task on its way from queued to running, so this waits for a final status; a task
    absent from the queue for GONE_POLLS looks in a row was taken off it (`dvc queue remove`) and is "Removed".
    DVC does not restart a queue worker that died or never came up: when none has answered for STALL_S with
    tasks unfinished, the ones a dead worker left Running are stopped and marked failed (stop_orphans), the
    workers are started once more, and if that does not help this fails naming the tasks."""
    answered, restarted = time.monotonic(), False
    names, absent = {rev: rev[:7] for rev in revs}, dict.fromkeys(revs, 0)
    while True:
        tasks = {task["rev"]: task for task in queue_status() if task["rev"] in revs}
        for rev in revs:
            if rev in tasks:
                absent[rev], names[rev] = 0, tasks[rev]["name"] or names[rev]
            else:
                absent[rev] += 1
        if all(task["status"] in FINISHED for task in tasks.values()) and all(
            absent[rev] >= GONE_POLLS for rev in revs - tasks.keys()
        ):
            return {names[rev]: tasks[rev]["status"] if rev in tasks else REMOVED for rev in revs}
        if workers_alive():
            answered = time.monotonic()
        elif time.monotonic() - answered > STALL_S:
            orphans = [names[rev] for rev, task in tasks.items() if task["status"] == "Running"]
            if orphans and not queue_worker_processes():
                stop_orphans(orphans)
                print(f"{', '.join(orphans)}: the DVC queue worker running it died; stopped and marked failed")
                continue
            unfinished = ", ".join(names[rev] for rev, task in tasks.items() if task["status"] not in FINISHED)
            if restarted:
                raise errors.UserError(
                    f"no DVC queue worker is running and {unfinished} did not finish; read why in "
                    f".dvc/tmp/exps/celery/*.out, then `dvc queue remove {unfinished.replace(', ', ' ')}` "
                    "and queue them again"
                )
            print(f"no DVC queue worker answered for {STALL_S} s with {unfinished} unfinished: starting them again")
            start(jobs)
            answered, restarted = time.monotonic(), True
        time.sleep(POLL_S)


def run_queued(jobs: int) -> None:
    """Start the queue, wait for every experiment queued now, and report them."""
    tasks = queued()
    if not tasks:
        print("nothing queued: queue experiments first, e.g. `dvc exp run --queue -S 'train.seed=range(1,4)'`")
        return
    start(jobs)
    report(wait(tasks, jobs))


def error_line(name: str) -> str:
    """The last `error:` line a failed experiment's stage printed, from `dvc queue logs NAME`."""
    logs = subprocess.run(
        [sys.executable, "-m", "dvc", "queue", "logs", name], cwd=paths.ROOT, capture_output=True, text=True
    ).stdout
    errors = [line for line in logs.splitlines() if line.startswith("error:")]
    return errors[-1] if errors else "no stage error printed"


def report(states: dict[str, str]) -> None:
    """One line for the finished experiments, one per failure with its stage's error, one naming those taken
    off the queue; fail if any failed."""
    removed = sorted(name for name, status in states.items() if status == REMOVED)
    ran = {name: status for name, status in states.items() if status != REMOVED}
    failed = sorted(name for name, status in ran.items() if status != "Success")
    print(f"{len(ran) - len(failed)} of {len(ran)} experiments succeeded")
    if removed:
        print(f"taken off the queue before they ran (dvc queue remove): {', '.join(removed)}")
    for name in failed:
        print(f"{name} failed: {error_line(name)}", file=sys.stderr)
    if failed:
        raise errors.UserError(
            f"{len(failed)} of {len(ran)} experiments failed: {', '.join(failed)}; "
            "the whole log of each: `dvc queue logs <name>`"
        )


def push_experiments(names: list[str], remote: str) -> None:
    """`dvc exp push REMOTE NAME...` (git refs and models), then the run cache as `make push` does."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo(str(paths.ROOT)) as repo:
            repo.experiments.push(remote, names, push_cache=True)
    except DvcException as exc:
        raise errors.UserError(
            f"dvc exp push {remote} failed ({reason(exc)}); check `git remote -v` and "
            f"`dvc remote list`, then push by hand: `dvc exp push {remote} <name>`"
        )
    pushed, runs = push_run_cache(None)
    print(f"pushed {', '.join(names)} to {remote}; {pushed} files and {runs} stage runs to the DVC remote")


def run_share(points: dict[str, list[str]], worker: int, of: int, jobs: int, remote: str) -> None:
    """Machine `worker` of `of`: pull, queue and run its share `jobs` at a time, push what succeeded."""
    mine = share(points, worker, of)
    check_jobs(jobs)
    check_git_remote(remote)
    if not mine:
        print(f"worker {worker} of {of}: nothing to do, the grid has {len(points)} points")
        return
    print(f"worker {worker} of {of}: {len(mine)} of the grid's {len(points)} experiments: {', '.join(mine)}")
    done = sorted(remote_experiments(remote) & mine.keys())
    if done:
        raise errors.UserError(
            f"{', '.join(done)} already on {remote} for this commit (an earlier sweep); "
            f"name this one otherwise with -n, or remove them: `dvc exp remove -g {remote} "
            f"{' '.join(done)}`"
        )
    pull_shared_stages()
    queue(mine)
    tasks = queued(mine)
    start(jobs)
    states = wait(tasks, jobs)
    succeeded = [name for name in mine if states.get(name) == "Success"]
    if succeeded:
        push_experiments(succeeded, remote)
    report(states)


def collect(points: dict[str, list[str]], remote: str) -> None:
    """`dvc exp pull` every point of the grid that is on the git remote; fail naming those that are not."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    check_git_remote(remote)
    found = [name for name in points if name in remote_experiments(remote)]
    if found:
        try:
            with Repo(str(paths.ROOT)) as repo:
                repo.experiments.pull(remote, found, pull_cache=True)
        except DvcException as exc:
            raise errors.UserError(f"dvc exp pull {remote} failed ({reason(exc)}); check `git remote -v`")
    print(f"pulled {len(found)} of the grid's {len(points)} experiments from {remote}")
    missing = [name for name in points if name not in found]
    if missing:
        raise errors.UserError(
            f"not on {remote} for this commit yet: {', '.join(missing)}; wait for the "
            "machines that run them (or read why they failed in their output), then "
            "run this again; `make sweep-show` lists those pulled"
        )


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    commands = parser.add_subparsers(dest="command", required=True)
    start_command = commands.add_parser("start", help="dvc queue start, wait for the queued experiments, report them")
    grid = argparse.ArgumentParser(add_help=False)
    grid.add_argument(
        "-S",
        "--set-param",
        dest="grid",
        action="append",
        default=[],
        metavar="PARAM=VALUES",
        help="a param and its values in DVC's sweep syntax, as for `dvc exp run --queue -S`",
    )
    grid.add_argument("-n", "--name", default="sweep", help="experiment names are NAME-1, NAME-2, ... (sweep)")
    grid.add_argument("--remote", default="origin", help="the git remote every machine shares (origin)")
    run_command = commands.add_parser("run", parents=[grid], help="run machine K of N's share of the grid, push it")
    run_command.add_argument("--worker", type=int, default=1, help="this machine's number K, from 1 (1)")
    run_command.add_argument("--of", type=int, default=1, help="how many machines N share the grid (1)")
    for command in (start_command, run_command):
        command.add_argument("-j", "--jobs", type=int, default=1, help="experiments run at a time here (1)")
    commands.add_parser("collect", parents=[grid], help="pull the grid's experiments from every machine")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.command == "start":
        check_jobs(args.jobs)
        run_queued(args.jobs)
    elif args.command == "run":
        run_share(named_points(args.grid, args.name), args.worker, args.of, args.jobs, args.remote)
    else:
        collect(named_points(args.grid, args.name), args.remote)


if __name__ == "__main__":
    sys.exit(errors.run(main))
