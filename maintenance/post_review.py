"""Post review.md on the pull request (GitHub) or merge request (GitLab) as one comment, edited in place on each
push rather than posted again.

Usage: python -m maintenance.post_review github|gitlab   (make comment-github, make comment-gitlab; CI runs them)

Reads review.md (`make review` writes it) and writes the comment's body to .cache/review-comment.md: review.md
under a marker line, with its links to plots/ pointed at the reviewed commit's files. The comment that starts
with the marker is edited; when there is none, one is posted.
  github: through the gh CLI, in GitHub Actions (GH_TOKEN, GITHUB_REPOSITORY, PR_NUMBER, PR_HEAD_SHA,
          GITHUB_SERVER_URL, HEAD_REPO). The report also goes on the run's summary page ($GITHUB_STEP_SUMMARY);
          a fork's pull request gets no token to post with, so it stops there, with a notice.
  gitlab: through GitLab's REST API with a project access token (GITLAB_REVIEW_TOKEN, CI_API_V4_URL,
          CI_PROJECT_ID, CI_MERGE_REQUEST_IID, CI_PROJECT_URL, CI_COMMIT_SHA); without the token (a fork's
          merge request, or none set) it says so and posts nothing: review.md is the job's artifact.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from classifier import errors, paths

MARKER = "<!-- model-review -->"
REPORT = paths.ROOT / "review.md"
BODY = Path(".cache") / "review-comment.md"  # relative: `gh api -F body=@...` reads it from the project


def report() -> str:
    if not REPORT.is_file():
        raise errors.UserError(f"{REPORT.name} not found; run `make review` first")
    return REPORT.read_text()


def body(plots_url: str) -> str:
    """The comment: the marker line, then review.md with its plot links at `plots_url`; also written to BODY."""
    text = f"{MARKER}\n" + report().replace("](plots/", f"]({plots_url}")
    (paths.ROOT / BODY).parent.mkdir(parents=True, exist_ok=True)
    (paths.ROOT / BODY).write_text(text)
    return text


def gh(*args: str) -> str:
    result = subprocess.run(["gh", "api", *args], cwd=paths.ROOT, capture_output=True, text=True)
    if result.returncode:
        endpoint = next(arg for arg in args if arg.startswith("repos/"))
        raise errors.UserError(f"`gh api {endpoint}` failed ({errors.first_line(result.stderr)}); check GH_TOKEN")
    return result.stdout.strip()


def github(env: dict[str, str]) -> str:
    summary = env.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a") as page:
            page.write(report())
    repo, head = env["GITHUB_REPOSITORY"], env.get("HEAD_REPO", "")
    if head != repo:
        return (
            f"::notice::a pull request from the fork {head} gets no secrets and a read-only token: review.md not "
            "posted; it is on this run's summary page"
        )
    body(f"{env['GITHUB_SERVER_URL']}/{repo}/blob/{env['PR_HEAD_SHA']}/plots/")
    comments = f"repos/{repo}/issues/{env['PR_NUMBER']}/comments"
    found = gh("--paginate", comments, "--jq", f'.[] | select(.body | startswith("{MARKER}")) | .id').splitlines()
    if found:
        edit = f"repos/{repo}/issues/comments/{found[0]}"
        return gh("--method", "PATCH", edit, "-F", f"body=@{BODY}", "--jq", '"updated " + .html_url')
    return gh(comments, "-F", f"body=@{BODY}", "--jq", '"posted " + .html_url')


def gitlab(env: dict[str, str]) -> str:
    token = env.get("GITLAB_REVIEW_TOKEN")
    if not token:
        return (
            "GITLAB_REVIEW_TOKEN is not set (a fork's merge request, or no project access token in the CI/CD "
            "variables): review.md not posted; it is this job's artifact"
        )
    text = body(f"{env['CI_PROJECT_URL']}/-/blob/{env['CI_COMMIT_SHA']}/plots/")
    notes = f"{env['CI_API_V4_URL']}/projects/{env['CI_PROJECT_ID']}/merge_requests/{env['CI_MERGE_REQUEST_IID']}/notes"

    def call(url: str, method: str = "GET", data: bytes | None = None):
        request = urllib.request.Request(url, data, {"PRIVATE-TOKEN": token}, method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return json.load(answer)
        except (urllib.error.URLError, OSError) as exc:
            raise errors.UserError(f"GitLab's API refused {method} {url} ({exc}); check GITLAB_REVIEW_TOKEN")

    listed = call(f"{notes}?per_page=100&order_by=created_at&sort=asc")
    found = next((note["id"] for note in listed if note["body"].startswith(MARKER)), None)
    data = urllib.parse.urlencode({"body": text}).encode()
    if found is not None:
        call(f"{notes}/{found}", "PUT", data)
        return f"updated note {found}"
    call(notes, "POST", data)
    return "posted a note"


def main() -> None:
    forges = {"github": github, "gitlab": gitlab}
    if len(sys.argv) != 2 or sys.argv[1] not in forges:
        raise errors.UserError("usage: python -m maintenance.post_review github|gitlab")
    try:
        print(forges[sys.argv[1]](dict(os.environ)))
    except KeyError as exc:
        raise errors.UserError(f"{exc.args[0]} is not set: run this in the forge's CI job (docs/ci.md)")


if __name__ == "__main__":
    sys.exit(errors.run(main))
