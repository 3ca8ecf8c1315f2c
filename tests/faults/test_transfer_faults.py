"""Faults while data moves, with real processes on tiny data: a `dvc push` to the project's default remote (a
local folder) killed with SIGKILL while it writes a file leaves nothing damaged in the remote under an
object's name, and the next `dvc push` sends just what is missing, so that a fresh clone's `dvc pull` gets every
output byte for byte; a `dvc pull` killed with SIGKILL while it writes a file into the clone's cache leaves
nothing damaged there and the next `dvc pull` completes, and one killed while it writes a file into the
workspace leaves nothing damaged under an output's name, but makes the next `dvc pull` fail until it is forced
(a DVC defect, below); a disk that fills during `dvc pull` (the clone's cache on a small tmpfs; skipped, with
the reason, where mounting is not allowed) fails the pull with DVC's own messages, which name the lack of
space, leaves nothing damaged under an object's name, and once there is room the next `dvc pull` completes;
and a queue worker killed with SIGKILL while its experiment trains leaves that experiment to
`dvc queue kill`, after which `dvc queue start` runs the one queued behind it and `dvc exp show` shows its
results.

What DVC 3.67 does in each, and what the tests pin (docs/reliability.md says it for users):
- It writes every file it transfers to a temporary name (`.<random>.tmp`) beside the final one and renames it
  into place, so a kill at any moment leaves only whole files under final names. The unfinished copy a kill
  leaves stays under its temporary name: in the remote or the cache for good, unused (`dvc gc -w` clears the
  cache's); in an output folder, a defect: the next `dvc pull` takes it for an unsaved file of the user's and
  fails (`ERROR: failed to pull data from the cloud - Can't remove the following unsaved files without
  confirmation. Use `--force` to force.`, then its path), checking nothing out. `make pull` (maintenance.pull)
  removes DVC's temporary files, says so in one line, and pulls again.
- A pull that runs out of space prints one `ERROR: failed to transfer '<md5>' - [Errno 28] No space left on
  device: ...` line for each file that failed (about 1,500 here), then `ERROR: failed to pull data from the
  cloud - N files failed to download`, and checks nothing out. Each failed transfer leaves its temporary
  file in the cache (dvc-objects' local `put_file` does not remove it on error). `make pull` says it in one
  line that names the lack of space, removes those files, and once there is room completes.
- A killed queue worker takes nothing with it: the experiment it was running (`dvc exp exec-run` and its
  stage) runs on as an orphan that no one will collect, `dvc queue status` says it is Running with no worker,
  and it says so forever. `dvc queue kill NAME` stops the orphan (SIGINT to its process group); a second
  `dvc queue kill NAME`, with no process left, marks it Failed. `dvc queue start` then runs the rest. The
  killed experiment's temporary copy of the project stays in .dvc/tmp/exps (`dvc exp clean` leaves it too).

How a transfer is killed mid-copy: a local remote is fast (a small file is one `sendfile`), so what makes a
push or a pull last is the number of files, as in a dataset of many small images. The module's project tracks,
beside the pipeline's outputs, a folder of SAMPLES tiny arrays (`dvc add data/samples`), which DVC copies to
and from a local remote one file at a time: about a second even on an idle machine. Once the first few files
are across, the test watches DVC's open files (/proc/PID/fd); seen writing a temporary file, DVC is stopped
(SIGSTOP), and killed with SIGKILL if that file is not yet whole (let go on otherwise): the kill always lands
mid-copy, within a second or two. (The file is then empty, in practice: a small file is written in one call.)
"""

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import yaml

from maintenance.pull import TEMPORARY  # where DVC copies a file before renaming it into place
from tests.support import synthetic
from tests.support.project import Project, new_project, still_running

SAMPLES = 2000  # files in data/samples: a transfer of some 2,000 files takes a second or more
KILL_AFTER = 10  # files across before a test looks for a copy to kill: well under way, far from done
OBJECT = re.compile(r"[0-9a-f]{30}(\.dir)?")  # an object's file name under its 2-hex folder
REMOTE = Path(".cache", "dvc-remotes", "mnist-cnn")  # the project's default remote, under the user's home
CACHE = Path(".dvc", "cache", "files", "md5")


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_samples(folder: Path) -> None:
    """SAMPLES synthetic digits, one .npy file each (some 900 bytes): a folder of many small files."""
    folder.mkdir(parents=True)
    images, _ = synthetic.digits(SAMPLES, seed=3)
    for i, image in enumerate(images):
        np.save(folder / f"{i:04d}.npy", image)


def tracked_outs(root: Path) -> dict[str, str]:
    """Path -> md5 of every output in DVC's cache: each stage's `outs` in dvc.yaml, with the md5 dvc.lock
    records (its metrics and plots are `cache: false`, in git), and data/samples (data/samples.dvc)."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    cached = {
        out if isinstance(out, str) else next(iter(out)) for stage in stages.values() for out in stage.get("outs", [])
    }
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    outs = [out for stage in lock["stages"].values() for out in stage.get("outs", []) if out["path"] in cached]
    samples = yaml.safe_load((root / "data" / "samples.dvc").read_text())["outs"]  # paths relative to data/
    outs += [{**out, "path": f"data/{out['path']}"} for out in samples]
    assert {out["path"] for out in outs} >= cached
    return {out["path"]: out["md5"] for out in outs}


def workspace_files(root: Path) -> dict[str, str]:
    """Relative path -> md5 of every file (hidden ones too) under the cached outputs in the workspace."""
    found = {}
    for out in tracked_outs(root):
        path = root / out
        for file in sorted(path.rglob("*")) if path.is_dir() else [path] if path.exists() else []:
            if file.is_file():
                found[file.relative_to(root).as_posix()] = md5(file)
    return found


def rehash(folder: Path) -> tuple[dict[str, Path], list[str], list[str]]:
    """The files in a DVC cache or local remote `folder` (files/md5): its objects (md5 -> file), those of them
    whose bytes do not hash to their name, and the names of its other files (DVC's temporary files)."""
    objects, damaged, others = {}, [], []
    for path in sorted(folder.glob("??/*")):
        if OBJECT.fullmatch(path.name):
            name = path.parent.name + path.name.removesuffix(".dir")
            objects[name] = path
            if md5(path) != name:
                damaged.append(f"{path.parent.name}/{path.name}")
        else:
            others.append(f"{path.parent.name}/{path.name}")
    return objects, damaged, others


def count_files(folder: Path, pattern: str) -> int:
    return sum(1 for _ in folder.glob(pattern)) if folder.is_dir() else 0


def assert_outputs_match_the_lock(project: Project) -> None:
    """Every cached output in the workspace has dvc.lock's (or data/samples.dvc's) md5: a file's own, and for a
    folder, each file the md5 of its entry in the folder's manifest (the cache file named by the folder's md5,
    itself checked against its name), with no file missing and none extra."""
    cache = project.root / CACHE
    for out, expected in tracked_outs(project.root).items():
        path = project.root / out
        if not expected.endswith(".dir"):
            assert md5(path) == expected, out
            continue
        manifest = cache / expected[:2] / expected[2:]
        assert md5(manifest) == expected.removesuffix(".dir"), f"{out}'s manifest"
        entries = {entry["relpath"]: entry["md5"] for entry in json.loads(manifest.read_text())}
        files = {file.relative_to(path).as_posix(): md5(file) for file in path.rglob("*") if file.is_file()}
        assert files == entries, out
    assert json.loads(project.dvc("status", "--json")) == {}


def assert_nothing_damaged_in_the_workspace(clone: Project, origin: Project) -> None:
    """Every file a killed or failed pull left under an output's name is one the origin has, with its bytes
    (DVC's temporary files aside: a test checks that the next pull leaves none)."""
    left = workspace_files(clone.root)
    wrong = {path: digest for path, digest in left.items() if origin.files.get(path) != digest}
    assert {path: digest for path, digest in wrong.items() if not TEMPORARY.fullmatch(Path(path).name)} == {}


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    """The pipeline reproduced, with data/samples beside it, committed and pushed to a bare git repo and to
    the project's default remote (~/.cache/dvc-remotes/mnist-cnn under a temporary home every clone shares)."""
    base = tmp_path_factory.mktemp("transfer")
    project = new_project(base / "origin", base / "mirror", home=base / "home")
    project.dvc("repro")
    write_samples(project.root / "data" / "samples")
    project.dvc("add", "data/samples")
    project.commit("baseline, and a folder of many small files")
    project.url = str(base / "origin.git")
    project.run("git", "init", "-q", "--bare", "-b", "main", project.url)
    project.run("git", "remote", "add", "origin", project.url)
    project.run("git", "push", "-q", "origin", "main")
    project.dvc("push")
    project.remote = project.home / REMOTE
    project.objects = set(rehash(project.remote / "files" / "md5")[0])
    project.files = workspace_files(project.root)
    assert len(project.objects) > SAMPLES and count_files(project.root / "data" / "samples", "*") == SAMPLES
    return project


def clone(origin: Project, root: Path, home: Path | None = None) -> Project:
    """A fresh clone of the origin's git repo, for a user whose home is `home` (the origin's by default)."""
    origin.run("git", "clone", "-q", origin.url, str(root))
    return Project(root, origin.mirror, home or origin.home)


def open_for_writing(pid: int, folder: Path) -> Path | None:
    """A temporary file under `folder` that process `pid` holds open (a copy under way), if any."""
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for fd in os.scandir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(fd.path)
                if target.startswith(f"{folder}/") and TEMPORARY.fullmatch(target.rsplit("/", 1)[1]):
                    return Path(target)
    return None


def stopped(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_STOPPED
    except psutil.NoSuchProcess:
        return True


def kill_mid_copy(start, folder: Path, under_way, whole: set[str], undo, attempts: int = 3) -> Path:
    """Start a process (`start()`) and SIGKILL it mid-copy (kill_once). On a loaded machine it may finish
    before it is caught: then `undo()` puts back what it copied, and it is run again, `attempts` times at most."""
    for _ in range(attempts):
        if caught := kill_once(start(), folder, under_way, whole):
            return caught
        undo()
    raise AssertionError(f"it finished before it could be killed mid-copy, {attempts} times")


def kill_once(process: subprocess.Popen, folder: Path, under_way, whole: set[str], timeout_s=120) -> Path | None:
    """SIGKILL `process`'s whole process group (it was started in a session of its own) while it writes a file
    into `folder`, once `under_way()`: seen holding a temporary file there open (/proc/PID/fd), the group is
    stopped (SIGSTOP), and killed if the file is then not yet whole (its md5 none of `whole`), let go on
    (SIGCONT) otherwise. Return that file, or None if the process ended first (successfully)."""
    deadline, started, caught = time.monotonic() + timeout_s, False, None
    try:
        while caught is None:
            if process.poll() is not None:
                assert process.returncode == 0, f"it failed (exit code {process.returncode}) before it was killed"
                return None
            assert time.monotonic() < deadline, "it never got under way"
            if not (started := started or under_way()):
                time.sleep(0.005)
            elif copying := open_for_writing(process.pid, folder):
                os.killpg(process.pid, signal.SIGSTOP)
                wait_for("the stop", lambda: stopped(process.pid), timeout_s=10, poll_s=0.001)
                if open_for_writing(process.pid, folder) == copying and copying.is_file() and md5(copying) not in whole:
                    caught = copying
                else:
                    os.killpg(process.pid, signal.SIGCONT)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    return caught


def undo_pull(project: Project) -> None:
    """Back to a fresh clone: no DVC cache, no output checked out."""
    shutil.rmtree(project.root / CACHE)
    project.run("git", "clean", "-fdxq", "data", "models", "metrics", "plots")


def start_dvc(project: Project, *args: str) -> subprocess.Popen:
    return project.start(
        sys.executable,
        "-m",
        "dvc",
        *args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_a_dvc_push_killed_mid_copy_leaves_no_damaged_object_and_the_next_push_sends_the_rest(origin, tmp_path):
    home = tmp_path / "home"  # a user whose default remote (the project's own, under their home) is empty
    pusher = clone(origin, tmp_path / "pusher", home)
    pusher.dvc("remote", "add", "--local", "team", str(origin.remote))
    pusher.dvc("fetch", "-r", "team")  # every output in the clone's cache, to push
    remote = home / REMOTE / "files" / "md5"

    half = kill_mid_copy(
        lambda: start_dvc(pusher, "push"),
        remote,
        lambda: count_files(remote, "??/*") >= KILL_AFTER,
        origin.objects,
        undo=lambda: shutil.rmtree(remote),
    )
    objects, damaged, others = rehash(remote)
    assert damaged == [], "no object in the remote under its name without the bytes of that name"
    assert 0 < len(objects) < len(origin.objects), "killed mid-way: some objects are across, not all"
    assert set(objects) <= origin.objects
    assert others == [f"{half.parent.name}/{half.name}"], "the unfinished copy, under its temporary name only"

    pushed = pusher.dvc("push")
    assert f"{len(origin.objects) - len(objects)} files pushed" in pushed, "just what the killed push had not sent"
    after, damaged, left = rehash(remote)
    assert set(after) == origin.objects and damaged == []
    assert left == others, "the unfinished copy stays in the remote: the next push neither needs nor removes it"

    teammate = clone(origin, tmp_path / "teammate", home)
    teammate.dvc("pull")
    assert workspace_files(teammate.root) == origin.files, "every output, byte for byte"
    assert_outputs_match_the_lock(teammate)


def test_a_dvc_pull_killed_mid_copy_into_the_cache_leaves_nothing_damaged_and_the_next_pull_completes(origin, tmp_path):
    teammate = clone(origin, tmp_path / "clone")
    cache = teammate.root / CACHE
    half = kill_mid_copy(  # DVC first copies every object from the remote into the cache
        lambda: start_dvc(teammate, "pull"),
        cache,
        lambda: count_files(cache, "??/*") >= KILL_AFTER,
        origin.objects,
        undo=lambda: undo_pull(teammate),
    )
    objects, damaged, others = rehash(cache)
    assert damaged == [], "no object in the cache under its name without the bytes of that name"
    assert 0 < len(objects) < len(origin.objects), "killed mid-way"
    assert others == [f"{half.parent.name}/{half.name}"], "the unfinished copy, under its temporary name only"
    assert workspace_files(teammate.root) == {}, "nothing checked out yet"

    teammate.dvc("pull")
    assert workspace_files(teammate.root) == origin.files, "every output, byte for byte, and nothing else"
    assert_outputs_match_the_lock(teammate)
    # The unfinished copy stays in the cache (`dvc gc -w` removes it: see the full-disk test).
    assert rehash(cache)[1:] == ([], others)


def test_a_dvc_pull_killed_mid_copy_into_the_workspace_blocks_dvc_pull_and_make_pull_mends_it(origin, tmp_path):
    teammate = clone(origin, tmp_path / "clone")
    cache = teammate.root / CACHE
    samples = teammate.root / "data" / "samples"
    half = kill_mid_copy(  # once the cache is full, DVC copies the files into the workspace
        lambda: start_dvc(teammate, "pull"),
        samples,
        lambda: count_files(samples, "*") >= KILL_AFTER,
        origin.objects,
        undo=lambda: undo_pull(teammate),
    )
    objects, damaged, others = rehash(cache)
    assert set(objects) == origin.objects and damaged == [] and others == [], "the cache was complete and whole"
    assert 0 < count_files(samples, "*") < SAMPLES, "killed mid-way through the checkout"
    assert_nothing_damaged_in_the_workspace(teammate, origin)
    assert half.parent == samples and half.is_file(), "the unfinished copy, under its temporary name only"

    # A DVC defect: its own temporary file, left in data/samples, is to the next pull an unsaved file of the
    # user's that it will not delete: the pull fails, naming it, and checks nothing else out.
    failed = teammate.run(sys.executable, "-m", "dvc", "pull", check=False)
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines() == [
        "ERROR: failed to pull data from the cloud - Can't remove the following unsaved files without "
        "confirmation. Use `--force` to force.",
        str(half),
    ]
    # `make pull` (maintenance.pull) removes DVC's own temporary files, says so, and pulls again
    mended = teammate.run(sys.executable, "-m", "maintenance.pull")
    assert mended.stdout.splitlines()[0] == (
        "removed 1 temporary file(s) that a killed `dvc pull` left in data/samples; pulling again"
    ), mended.stdout
    assert workspace_files(teammate.root) == origin.files, "every output, byte for byte, and nothing else"
    assert_outputs_match_the_lock(teammate)


@pytest.fixture
def small_cache(origin, tmp_path):
    """A clone whose cache (.dvc/cache) is a 2 MB tmpfs: room for a quarter of its objects (a tmpfs file takes
    at least a 4 KB page), so that `dvc pull` runs out of space mid-way."""
    teammate = clone(origin, tmp_path / "clone")
    mount = teammate.root / ".dvc" / "cache"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"needs a tmpfs mount (root in a namespace that allows it): {mounted.stderr.decode().strip()}")
    try:
        yield teammate, mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_disk_that_fills_during_dvc_pull_fails_it_naming_the_lack_of_space_and_the_next_pull_completes(
    origin, small_cache
):
    teammate, mount = small_cache
    cache = teammate.root / CACHE
    failed = teammate.run(sys.executable, "-m", "dvc", "pull", check=False)
    assert failed.returncode == 1
    objects, damaged, others = rehash(cache)
    assert damaged == [], "no object in the cache under its name without the bytes of that name"
    assert 0 < len(objects) < len(origin.objects), "the pull ran out of space mid-way"
    *transfers, last = failed.stderr.strip().splitlines()
    # DVC's own words: one line for each file it could not copy, then a count that does not say why
    assert last == (
        f"ERROR: failed to pull data from the cloud - {len(origin.objects) - len(objects)} files failed to download"
    ), failed.stderr[-2000:]
    assert transfers and all(
        line.startswith("ERROR: failed to transfer '") and "[Errno 28] No space left on device: " in line
        for line in transfers
    ), failed.stderr[:2000]
    assert workspace_files(teammate.root) == {}, "a failed fetch checks nothing out"
    # A DVC defect: each copy that failed left its temporary file in the cache
    assert others and all(TEMPORARY.fullmatch(name.split("/")[1]) for name in others), others

    # `make pull` (maintenance.pull): one line that names the lack of space, and no unfinished copy left but
    # one that a process holds open (as another DVC writing to a shared cache would)
    busy = cache / others[0].split("/")[0] / ".busyAnotherDvcWritesIt.tmp"
    with busy.open("w"):
        short = teammate.run(sys.executable, "-m", "maintenance.pull", check=False)
    assert short.returncode == 1 and len(short.stderr.splitlines()) == 1, short.stderr[-2000:]
    assert short.stderr.startswith("error: the disk filled during `dvc pull`: ") and "make pull" in short.stderr
    assert rehash(cache)[1:] == ([], [f"{busy.parent.name}/{busy.name}"]), "the unfinished copies removed"
    busy.unlink()

    subprocess.run(["mount", "-o", "remount,size=64m", str(mount)], check=True)  # room again
    pulled = teammate.run(sys.executable, "-m", "maintenance.pull")
    assert f"{len(origin.objects) - len(objects)} files fetched" in pulled.stdout, pulled.stdout
    assert workspace_files(teammate.root) == origin.files
    assert_outputs_match_the_lock(teammate)
    assert rehash(cache)[1:] == ([], []), "nothing damaged, no temporary file"


# The experiment killed trains for long (early stopping off); the one queued after it changes only the evaluate
# stage's params, so that it reruns evaluate alone (and the params check): seconds, not a training.
LONG = ("long", ["-S", "train.epochs=1000", "-S", "train.early_stopping.patience=1000"])
QUICK = {"four": ["-S", "evaluate.misclassified_shown=4"]}


def processes_under(root: Path) -> list[psutil.Process]:
    """The processes working in `root` or below: DVC's queue daemon and worker, each experiment's
    `dvc exp exec-run` (in .dvc/tmp/exps/tmp*) and its stage."""
    found = []
    for process in psutil.process_iter(["cwd"]):
        cwd = process.info["cwd"]
        if cwd and (cwd == str(root) or cwd.startswith(f"{root}/")):
            found.append(process)
    return found


def command(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.NoSuchProcess:
        return ""


@contextlib.contextmanager
def nothing_left_running(root: Path):
    """Once the block ends, SIGKILL the process group of each process still working in `root` (DVC's queue
    daemon leads one group: its worker, the experiments and their stages), never this test's own group."""
    try:
        yield
    finally:
        ours = os.getpgid(0)
        processes = processes_under(root)
        for process in processes:
            with contextlib.suppress(ProcessLookupError, psutil.NoSuchProcess):
                group = os.getpgid(process.pid)
                if group != ours:
                    os.killpg(group, signal.SIGKILL)
                else:
                    process.kill()
        psutil.wait_procs(processes, timeout=10)


def queue_states(project: Project) -> tuple[dict[str, str], str]:
    """`dvc queue status`: each experiment's name -> status, and the worker line."""
    lines = [line for line in project.dvc("queue", "status").splitlines() if line.strip()]
    assert lines[0].split() == ["Task", "Name", "Created", "Status"], lines
    return {line.split()[1]: line.split()[-1] for line in lines[1:-1]}, lines[-1]


def start_queue(project: Project) -> None:
    """`dvc queue start`, its output not captured: the daemon it starts would hold a captured pipe open."""
    started = subprocess.run(
        [sys.executable, "-m", "dvc", "queue", "start"],
        cwd=project.root,
        env=project.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
    )
    assert started.returncode == 0


def wait_for(what: str, ready, timeout_s: float = 240, poll_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while not (found := ready()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s:.0f} s"
        time.sleep(poll_s)
    return found


def training(root: Path) -> list[psutil.Process]:
    """The queued experiment's `dvc exp exec-run` and its train stage, once the stage has begun its epochs (its
    log, .dvc/tmp/exps/run/<rev>/<rev>.out, says "Epoch 1/")."""
    logs = (root / ".dvc" / "tmp" / "exps" / "run").glob("*/*.out")
    if not any("Epoch 1/" in log.read_text(errors="replace") for log in logs):
        return []
    found = {}
    for process in processes_under(root / ".dvc" / "tmp" / "exps"):
        if "exp exec-run" in command(process):
            found["exec-run"] = process
        elif "stages.train" in command(process):
            found["train"] = process
    return [found["exec-run"], found["train"]] if len(found) == 2 else []


def test_a_queue_worker_killed_mid_experiment_leaves_it_running_as_an_orphan_and_the_queue_goes_on_when_restarted(
    origin, tmp_path
):
    teammate = clone(origin, tmp_path / "clone")
    teammate.dvc("pull")  # the experiments then start from the committed outputs, with no fetch or preprocess
    name, overrides = LONG
    teammate.dvc("exp", "run", "--queue", "-n", name, *overrides)
    for quick, values in QUICK.items():
        teammate.dvc("exp", "run", "--queue", "-n", quick, *values)

    with nothing_left_running(teammate.root):
        start_queue(teammate)
        orphans = wait_for("the first experiment trains", lambda: training(teammate.root))
        copy = Path(orphans[0].info["cwd"])  # the experiment's temporary copy of the project, where it runs
        (worker,) = [p for p in processes_under(teammate.root) if "exp queue-worker" in command(p)]
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        time.sleep(2)
        # What DVC 3.67 does: the worker's experiment runs on, with no worker to collect it...
        assert still_running(orphans) == orphans, "dvc exp exec-run and its train stage run on as orphans"
        states, workers = queue_states(teammate)
        assert states == {name: "Running", **dict.fromkeys(QUICK, "Queued")}
        assert workers == "Worker status: 0 active, 0 idle"

        # ...until `dvc queue kill` stops it (SIGINT to its process group), which leaves it Running still,
        killed = teammate.run(sys.executable, "-m", "dvc", "queue", "kill", name)
        assert killed.stdout.strip() == f"{name} has been killed."
        gone, left = psutil.wait_procs(orphans, timeout=60)
        assert not left, "the orphans ended"
        assert queue_states(teammate)[0][name] == "Running"
        # and a second one, finding no process, marks it Failed.
        killed = teammate.run(sys.executable, "-m", "dvc", "queue", "kill", name)
        assert "had already aborted unexpectedly" in killed.stderr, killed.stderr
        assert queue_states(teammate)[0][name] == "Failed"

        start_queue(teammate)

        def finished():
            states = queue_states(teammate)[0]
            return states if all(states[quick] in ("Success", "Failed") for quick in QUICK) else None

        states = wait_for("the experiments queued after it finish", finished, poll_s=1)
        assert states == {name: "Failed", **dict.fromkeys(QUICK, "Success")}

        shown = json.loads(teammate.dvc("exp", "show", "--json"))
        rows = {rev["name"]: rev for base in shown for exp in base.get("experiments") or [] for rev in exp["revs"]}
        assert rows[name]["error"] == {"msg": "Experiment run failed", "type": ""}
        for quick, values in QUICK.items():
            assert rows[quick]["error"] is None
            data = rows[quick]["data"]
            shown_params = data["params"]["params.yaml"]["data"]["evaluate"]["misclassified_shown"]
            assert shown_params == int(values[1].split("=")[1])
            assert data["metrics"]["metrics/evaluate.json"]["data"]["accuracy"] > 0.5, "its results"

        # The killed experiment's copy of the project is never cleaned up; the other one's is.
        temporary = sorted(path.name for path in (teammate.root / ".dvc" / "tmp" / "exps").glob("tmp*"))
        assert temporary == [copy.name]

        teammate.dvc("queue", "stop")
        wait_for("the queue worker stops", lambda: not still_running(processes_under(teammate.root)), timeout_s=60)
