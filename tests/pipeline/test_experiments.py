"""Pipeline: experiments and review on tiny synthetic data, with the real DVC: queued `dvc exp run`,
`dvc exp show`, `dvc metrics diff`, `dvc params diff`, `dvc plots diff` and the review report."""

import json
import sys
from pathlib import Path

import pytest

from maintenance import check_plots_page
from tests.support.project import new_project

EXPERIMENTS = {
    "fast-lr": ["-S", "train.learning_rate=0.02"],
    "wide": ["-S", "train.model.width=0.5", "-S", "train.epochs=3"],
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A committed baseline on `main`, then two queued experiments run two at a time (`make sweep`'s start)."""
    project = new_project(tmp_path_factory.mktemp("project"), tmp_path_factory.mktemp("mirror"))
    project.dvc("repro")
    project.commit("baseline")
    for name, overrides in EXPERIMENTS.items():
        project.dvc("exp", "run", "--queue", "-n", name, *overrides)
    ran = project.run(sys.executable, "-m", "tools.sweep", "start", "-j", "2")
    assert "2 of 2 experiments succeeded" in ran.stdout, ran.stdout + ran.stderr
    return project


def experiment_rows(project):
    shown = json.loads(project.dvc("exp", "show", "--json"))
    rows = {}
    for baseline in shown:
        for experiment in baseline.get("experiments") or []:
            for rev in experiment["revs"]:
                rows[rev["name"]] = rev["data"]
    return rows


def test_exp_show_lists_both_experiments_with_their_own_metrics(project):
    rows = experiment_rows(project)
    assert set(EXPERIMENTS) <= set(rows), rows.keys()
    losses = {name: rows[name]["metrics"]["metrics/evaluate.json"]["data"]["loss"] for name in EXPERIMENTS}
    assert losses["fast-lr"] != losses["wide"]
    params = {name: rows[name]["params"]["params.yaml"]["data"]["train"] for name in EXPERIMENTS}
    assert params["fast-lr"]["learning_rate"] == 0.02
    assert params["wide"]["model"]["width"] == 0.5 and params["wide"]["epochs"] == 3


def test_metrics_diff_reports_the_change(project):
    diff = json.loads(project.dvc("metrics", "diff", "fast-lr", "wide", "--json"))
    assert diff["metrics/evaluate.json"]["loss"]["diff"] != 0
    assert diff["metrics/train/metrics.json"]["epochs_run"] == {"old": 2, "new": 3, "diff": 1}
    markdown = project.dvc("metrics", "diff", "fast-lr", "wide", "--md")
    assert markdown.startswith("| Path") and "metrics/evaluate.json" in markdown


def test_params_diff_names_the_changed_parameters(project):
    diff = json.loads(project.dvc("params", "diff", "fast-lr", "wide", "--json"))["params.yaml"]
    assert set(diff) == {"train.learning_rate", "train.model.width", "train.epochs"}
    assert diff["train.model.width"]["new"] == 0.5
    assert "train.learning_rate" in project.dvc("params", "diff", "main", "fast-lr", "--md")


@pytest.fixture(scope="module")
def plots_page(project):
    project.dvc("plots", "diff", "fast-lr", "wide", "-o", "review_plots")
    return project.root / "review_plots" / "index.html"


def test_plots_diff_writes_html_with_both_revisions(project, plots_page):
    html = plots_page.read_text()
    for plot in (
        "metrics/train/plots/metrics/eval/accuracy.tsv",
        "Confusion matrix (test set)",
        "F1 per class (test set)",
    ):
        assert plot in html, plot
    assert html.count("vegaEmbed") >= 3
    assert '"rev": "fast-lr"' in html and '"rev": "wide"' in html
    images = list((project.root / "review_plots" / "static").glob("*misclassified.png"))
    assert {image.name.split("_")[0] for image in images} == {"fast-lr", "wide"}


@pytest.mark.skipif(
    not Path(check_plots_page.CHROMIUM).is_file() or not check_plots_page.VEGA_DIR.is_dir(),
    reason="needs Debian's chromium and a local Vega: run `make browser-deps`",
)
def test_plots_page_renders_in_headless_chromium(project, plots_page):
    project.env["VEGA_DIR"] = str(check_plots_page.VEGA_DIR)
    screenshot = plots_page.with_name("screenshot.png")
    output = project.run(
        sys.executable,
        "-m",
        "maintenance.check_plots_page",
        str(plots_page),
        "--screenshot",
        str(screenshot),
        "--min-charts",
        "3",
    ).stdout
    assert "(0 broken)" in output, output
    assert screenshot.stat().st_size > 20_000, "a screenshot of a drawn page, not a blank one"
    blank = project.root / "blank.html"
    blank.write_text("<html><body><p>no plots</p></body></html>")
    failed = project.run(sys.executable, "-m", "maintenance.check_plots_page", str(blank), check=False)
    assert failed.returncode == 1 and "did not render: 0 charts drawn" in failed.stderr


def test_review_report_compares_against_main(project):
    project.dvc("exp", "apply", "wide")
    report = project.run(sys.executable, "-m", "tools.review", "--base", "main").stdout
    assert "## Model review: workspace against `main`" in report
    assert "| epochs run | 2 | 3 | +1 |" in report
    assert "| `train.model.width` | `0.25` | `0.5` |" in report
    assert "(plots/confusion_matrix.png)" in report
    cpu = json.loads((project.root / "metrics" / "train" / "environment.json").read_text())["cpu"]
    assert f"| CPU | {cpu} | {cpu} |" in report, "both revisions' training environment, the base's from the cache"
    missing = project.run(sys.executable, "-m", "tools.review", "--base", "no-such-branch", check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        "error: base revision 'no-such-branch' not found; fetch it "
        "(`git fetch origin no-such-branch`) or pass another with --base"
    )
