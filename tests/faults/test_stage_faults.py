"""Faults, with real processes on tiny data: a `dvc repro` killed with SIGKILL leaves no stage running, whether
it is training, still importing TensorFlow, or downloading from a trickling HTTP mirror (and the next `dvc
repro` leaves no temporary file);
a bad parameter of any kind, given to `dvc repro` or `dvc exp run -S`, costs no earlier output; a full disk (a
real ENOSPC from the kernel, written through /dev/full) or a read-only output folder (a read-only mount) is
one line that names the file and the fix, leaves nothing half-written, and the next `dvc repro` finishes
clean; and a damaged file in DVC's cache (the model's or a data file's copy) never reaches the workspace as if
good: `dvc status` names it and drops it, `dvc checkout` then refuses, and `dvc pull` or `dvc repro` brings the
good bytes back.

DVC 3.67 verifies a cache file only when it is not read-only (DVC makes every cache file read-only once it has
hashed it, and from then on trusts it), and `dvc checkout` never verifies one: the damage in those cases is
done as a user who is not root must do it, by making the file writable first, and `dvc status` looks before
`dvc checkout` does. A damaged file left read-only (bit rot, a write by root) is found by maintenance.verify_cache,
which rehashes the whole cache, and `make push` (maintenance.push) runs it first, so that it uploads nothing
damaged."""

import contextlib
import hashlib
import http.server
import json
import shutil
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest

from classifier import dataset, paths
from maintenance import verify_cache
from tests.support.project import new_project, ran_stages, still_running


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = new_project(tmp_path_factory.mktemp("project"), tmp_path_factory.mktemp("mirror"))
    project.dvc("repro")
    return project


def stage_processes(project, name: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        if process.info["cwd"] == str(project.root) and f"stages.{name}" in " ".join(process.info["cmdline"] or []):
            found.append(process)
    return found


@contextlib.contextmanager
def killed_at_the_end(processes: list[psutil.Process]):
    """Kill whichever of `processes` still run once the block ends: an orphan left by a failed check would hold
    DVC's lock on the module's project and fail every later test with it."""
    try:
        yield
    finally:
        for process in still_running(processes):
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(processes, timeout=10)


# Half a second in, the train stage is still importing TensorFlow (seconds); five seconds in, it is training.
@pytest.mark.parametrize("kill_after_s", [0.5, 5], ids=["while-importing", "while-training"])
def test_a_killed_dvc_repro_takes_its_running_stage_with_it(project, kill_after_s):
    project.edit_params("train", epochs=1000)  # long enough to be killed mid-run
    repro = project.start(sys.executable, "-m", "dvc", "repro", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (training := stage_processes(project, "train")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert training, "the train stage started"
    time.sleep(kill_after_s)
    repro.send_signal(signal.SIGKILL)
    repro.wait()
    time.sleep(1)  # an orphan would run on for seconds, through its imports and training
    with killed_at_the_end(training):
        assert not still_running(training), "the train stage died with dvc instead of running on as an orphan"
    project.edit_params("train", epochs=2)
    project.dvc("repro")  # reruns train, or restores it from the run cache: either way the outputs are back
    assert (project.root / paths.MODEL_PATH.relative_to(paths.ROOT)).is_file()
    assert json.loads(project.dvc("status", "--json")) == {}


def files(folder) -> dict[str, bytes]:
    """Every file in `folder` (hidden ones too), as name -> bytes."""
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


class Trickling(http.server.BaseHTTPRequestHandler):
    """A mirror that serves the real files of `directory` (set per server), 1 KB every 0.1 s: about 10 s for the
    largest tiny file (100 KB), so that its download is surely still running when it is killed."""

    directory = None
    TRICKLE = 1024

    def do_GET(self):
        path = self.directory / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            for start in range(0, len(data), self.TRICKLE):
                self.wfile.write(data[start : start + self.TRICKLE])
                self.wfile.flush()
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


def partly_downloaded(raw) -> bool:
    """Whether a temporary file in `raw` holds some bytes on disk."""
    for tmp in raw.glob(".tmp-*"):
        with contextlib.suppress(FileNotFoundError):
            if tmp.stat().st_size:
                return True
    return False


@pytest.fixture
def trickling_mirror(project):
    handler = type("Handler", (Trickling,), {"directory": project.mirror})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_a_dvc_repro_killed_mid_download_takes_fetch_with_it_and_the_next_one_leaves_no_temporary_file(
    project, trickling_mirror
):
    raw = project.root / paths.RAW_DIR.relative_to(paths.ROOT)
    params_yaml = (project.root / "params.yaml").read_text()
    project.edit_params("fetch", timeout_s=29)  # a fetch param changed: fetch must run again, not be skipped
    project.env["MNIST_MIRROR"] = trickling_mirror
    try:
        repro = project.start(
            sys.executable, "-m", "dvc", "repro", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the first blocks (8 KB, Python's buffer) are on disk
            fetching = stage_processes(project, "fetch")
            if fetching and partly_downloaded(raw):
                break
            time.sleep(0.1)
        else:
            repro.kill()
            pytest.fail("the fetch stage never started writing a download into data/raw/.tmp-*")
        repro.send_signal(signal.SIGKILL)
        repro.wait()
        # At once: an orphan would finish its download (some 10 s on) and pass a longer wait.
        with killed_at_the_end(fetching):
            gone, alive = psutil.wait_procs(fetching, timeout=5)
            assert not alive, "the fetch stage died with dvc instead of downloading on as an orphan"
        assert not stage_processes(project, "fetch")
        half = [path.name for path in raw.iterdir() if not path.name.startswith(".tmp-")]
        assert half == [], "nothing half-downloaded lies in data/raw under a real file's name"
    finally:
        project.env["MNIST_MIRROR"] = str(project.mirror)
    result = project.run(sys.executable, "-m", "dvc", "repro")
    assert "fetch" in ran_stages(result.stdout)
    assert not list(raw.glob(".tmp-*")), "nothing the killed run left remains"
    assert files(raw) == files(project.mirror), "the four files, whole, and nothing else"
    assert json.loads(project.dvc("status", "--json")) == {}
    (project.root / "params.yaml").write_text(params_yaml)
    project.dvc("repro")  # the original fetch params again: restored from the run cache
    assert json.loads(project.dvc("status", "--json")) == {}


OUTPUT_DIRS = ("data", "models", "metrics", "plots")
# One bad value of each kind, in each stage's section: out of range, of the wrong type, an unknown key, a
# missing entry, a wrong choice; each with the start of the one line that names it.
BAD_PARAMS = [
    ("fetch", {"timeout_s": -1}, "fetch.timeout_s must be a number > 0"),
    ("preprocess", {"val_fraction": "a tenth"}, "preprocess.val_fraction must be a number"),
    ("train", {"learning_rate": -1}, "train.learning_rate must be a number > 0 and <= 1, got -1"),
    ("train", {"model.widht": 2}, "unknown parameter train.model.widht"),
    ("train", {"early_stopping.monitor": "max"}, "train.early_stopping.monitor must be one of"),
    ("evaluate", {"batch_size": 0}, "evaluate.batch_size must be an integer >= 1"),
]


def outputs(project) -> dict[str, str]:
    """Every stage output in the workspace (but the params stage's mark), as path -> SHA-256 of its bytes."""
    return {
        path.relative_to(project.root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in OUTPUT_DIRS
        for path in sorted((project.root / folder).rglob("*"))
        if path.is_file() and path != project.root / paths.PARAMS_CHECKED.relative_to(paths.ROOT)
    }


@pytest.mark.parametrize(("section", "values", "expected"), BAD_PARAMS, ids=lambda v: str(v)[:30])
def test_a_bad_param_leaves_every_earlier_output_in_place(project, section, values, expected):
    before = outputs(project)
    params_yaml = (project.root / "params.yaml").read_text()
    project.edit_params(section, **values)
    failed = project.run(sys.executable, "-m", "dvc", "repro", check=False)
    assert failed.returncode != 0
    error = next(line for line in failed.stderr.splitlines() if line.startswith("error: "))
    assert error.startswith(f"error: params.yaml: {expected}"), failed.stderr
    assert outputs(project) == before, "DVC deleted no output of any stage: the params stage refused it first"
    (project.root / "params.yaml").write_text(params_yaml)
    project.dvc("repro")
    assert outputs(project) == before
    assert json.loads(project.dvc("status", "--json")) == {}


def test_a_bad_param_given_to_dvc_exp_run_leaves_every_earlier_output_in_place(project):
    before = outputs(project)
    failed = project.run(sys.executable, "-m", "dvc", "exp", "run", "-S", "train.epochs=0", check=False)
    assert failed.returncode != 0
    assert "error: params.yaml: train.epochs must be an integer >= 1, got 0" in failed.stderr, failed.stderr
    assert outputs(project) == before
    project.run("git", "checkout", "--", "params.yaml")
    project.dvc("repro")
    assert json.loads(project.dvc("status", "--json")) == {}


@pytest.mark.parametrize(
    ("stage", "output"),
    [("preprocess", paths.processed_path("train")), ("evaluate", paths.EVAL_METRICS_PATH)],
    ids=["preprocess", "evaluate"],
)
def test_a_full_disk_is_one_line_and_leaves_the_good_output_in_place(project, stage, output):
    target = project.root / output.relative_to(paths.ROOT)
    before = target.read_bytes()
    tmp = target.with_name(f".tmp-{target.name}")
    tmp.symlink_to("/dev/full")  # the stage's temporary file: every write to it fails with ENOSPC
    result = project.run(sys.executable, "-m", f"stages.{stage}", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: No space left on device: {target}; free some disk space and run it again"
    )
    assert target.read_bytes() == before, "the earlier output is untouched"
    assert not tmp.exists() and not tmp.is_symlink(), "nothing half-written is left"
    project.dvc("repro")
    assert json.loads(project.dvc("status", "--json")) == {}


@pytest.fixture
def read_only_plots(project):
    """plots/ as a read-only bind mount of itself (root ignores file modes, so chmod would not do)."""
    plots = project.root / paths.PLOTS_DIR.relative_to(paths.ROOT)
    mounted = subprocess.run(["mount", "--bind", str(plots), str(plots)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"needs a bind mount (root in a namespace that allows it): {mounted.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(plots)], check=True, capture_output=True)
        yield plots
    finally:
        subprocess.run(["umount", str(plots)], check=True)


def test_a_read_only_output_folder_is_one_line_and_leaves_every_output_in_place(project, read_only_plots):
    before = outputs(project)
    result = project.run(sys.executable, "-m", "stages.evaluate", check=False)
    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: Read-only file system: {read_only_plots}/"), result.stderr
    assert error.endswith("; make it writable, or work in a writable clone")
    assert outputs(project) == before, "evaluate wrote nothing anywhere, metrics/evaluate.json included"
    assert not list(read_only_plots.glob(".tmp-*"))
    assert json.loads(project.dvc("status", "--json")) == {}


def cache_file(project, data: bytes):
    """Where DVC 3 keeps `data` in the project's cache: .dvc/cache/files/md5/<2 hex>/<30 hex>."""
    md5 = hashlib.md5(data).hexdigest()
    return project.root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def damage(path, how: str) -> None:
    """Truncate `path` to half, or flip 16 of its bytes, as a user who is not root must: by making it writable
    first (DVC trusts a cache file that is still read-only, without hashing it)."""
    path.chmod(0o644)
    size = path.stat().st_size
    with path.open("r+b") as f:
        if how == "truncate":
            f.truncate(size // 2)
        else:
            f.seek(size // 2)
            flipped = bytes(b ^ 0xFF for b in f.read(16))
            f.seek(size // 2)
            f.write(flipped)


@pytest.fixture
def default_remote(project, tmp_path):
    """A default remote for the project (a local folder, in .dvc/config.local), holding everything it has."""
    project.dvc("remote", "add", "--local", "-d", "faults", str(tmp_path / "remote"))
    project.dvc("push")
    yield tmp_path / "remote"
    project.dvc("remote", "remove", "--local", "faults")


@pytest.mark.parametrize("how", ["truncate", "flip"])
def test_a_damaged_cache_copy_of_the_model_is_named_refused_and_pulled_again(project, default_remote, how):
    model = project.root / paths.MODEL_PATH.relative_to(paths.ROOT)
    name = model.relative_to(project.root).as_posix()
    good = model.read_bytes()
    cached = cache_file(project, good)
    assert cached.read_bytes() == good
    damage(cached, how)
    model.unlink()

    status = project.run(sys.executable, "-m", "dvc", "status")
    assert status.returncode == 0
    assert ["not", "in", "cache:", name] in [line.split() for line in status.stdout.splitlines()], status.stdout
    assert not cached.exists(), "DVC dropped the damaged copy from its cache"

    checkout = project.run(sys.executable, "-m", "dvc", "checkout", check=False)
    assert checkout.returncode == 255, checkout.stdout + checkout.stderr
    assert "ERROR: Checkout failed for following targets:" in checkout.stderr
    assert name in checkout.stderr.splitlines(), checkout.stderr
    assert not model.exists(), "no damaged bytes were checked out into the workspace"

    project.dvc("pull")  # the documented recovery: the good copy from the default remote
    assert model.read_bytes() == good
    assert cached.read_bytes() == good
    assert json.loads(project.dvc("status", "--json")) == {}


def test_a_damaged_cache_copy_of_a_data_file_makes_dvc_repro_fetch_it_again(project):
    raw = project.root / paths.RAW_DIR.relative_to(paths.ROOT)
    good = files(raw)
    name = dataset.RAW_FILES["train_images"]
    cached = cache_file(project, good[name])
    damage(cached, "flip")
    shutil.rmtree(raw)

    result = project.run(sys.executable, "-m", "dvc", "repro")
    assert "Stage 'fetch' is cached" not in result.stdout, "the damaged copy was not restored from the run cache"
    assert ran_stages(result.stdout) == {"fetch"}, result.stdout
    assert files(raw) == good
    assert cached.read_bytes() == good[name], "the cache holds the good bytes again"
    assert json.loads(project.dvc("status", "--json")) == {}


def damage_read_only(path) -> None:
    """Flip bytes of a cache file and leave it read-only, as bit rot or a write by root does: DVC then trusts it."""
    damage(path, "flip")
    path.chmod(0o444)


def test_a_damaged_read_only_cache_file_is_found_by_verify_cache_and_pulled_again(project, default_remote):
    model = project.root / paths.MODEL_PATH.relative_to(paths.ROOT)
    good = model.read_bytes()
    cached = cache_file(project, good)
    damage_read_only(cached)
    model.unlink()

    result = project.run(sys.executable, "-m", "maintenance.verify_cache", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: damaged in DVC's cache, removed: {model.relative_to(project.root).as_posix()}; {verify_cache.FIX}"
    ]
    assert not cached.exists(), "the damaged copy is gone, so no DVC command can check it out"
    project.dvc("pull")
    assert model.read_bytes() == good and cached.read_bytes() == good
    assert json.loads(project.dvc("status", "--json")) == {}
    assert project.run(sys.executable, "-m", "maintenance.verify_cache").stdout.startswith("every file in DVC's cache")


def test_make_push_uploads_nothing_while_a_cache_file_is_damaged(project, default_remote, tmp_path):
    model = project.root / paths.MODEL_PATH.relative_to(paths.ROOT)
    good = model.read_bytes()
    cached = cache_file(project, good)
    damage_read_only(cached)
    empty = tmp_path / "empty-remote"
    project.dvc("remote", "add", "--local", "empty", str(empty))
    try:
        result = project.run(sys.executable, "-m", "maintenance.push", "-r", "empty", check=False)
    finally:
        project.dvc("remote", "remove", "--local", "empty")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: damaged in DVC's cache, removed: models/model.h5")
    assert not empty.exists() or not any(path.is_file() for path in empty.rglob("*")), "nothing was pushed"
    project.dvc("pull")  # the good copy back from the default remote
    assert cached.read_bytes() == good and model.read_bytes() == good
    assert json.loads(project.dvc("status", "--json")) == {}
