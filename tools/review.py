"""Write a Markdown review report for a pull request: metrics and parameters against a base revision.

Usage: python -m tools.review [--base main] [--rev REV] [--output review.md] [--image-url URL_PREFIX]
       python -m tools.review --headline [--base HEAD]   the headline metrics only (`make repro` ends with it)

Reads the metrics and params committed at --base (default main, or origin/main when there is no local
main) and at --rev (default: the workspace) through `dvc metrics diff --json` and `dvc params diff --json`.
Metrics and plots are small and kept in git, so these need neither DVC's cache nor the network. Beside them
it shows the training environment of each revision (metrics/train/environment.json: CPU and versions, which
move the figures too), read from DVC's cache or its remote; "not available" when neither has it.
Writes the report to --output, or to stdout.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from classifier import errors, files, paths

EVAL = paths.EVAL_METRICS_PATH.relative_to(paths.ROOT).as_posix()
TRAIN = paths.TRAIN_METRICS_PATH.relative_to(paths.ROOT).as_posix()
HEADLINE = [  # (file, key, label, format)
    (EVAL, "accuracy", "test accuracy", "pct"),
    (EVAL, "loss", "test loss", "num"),
    (EVAL, "f1_macro", "macro F1", "pct"),
    (EVAL, "precision_macro", "macro precision", "pct"),
    (EVAL, "recall_macro", "macro recall", "pct"),
    (EVAL, "misclassified", "misclassified test images", "int"),
    (TRAIN, "best_epoch_val_accuracy", "validation accuracy (best epoch)", "pct"),
    (TRAIN, "ensemble_val_accuracy", "validation accuracy (ensemble, train.ensemble > 1)", "pct"),
    (TRAIN, "epochs_run", "epochs run", "int"),
    (TRAIN, "train_time_s", "training time (s)", "num"),
]
IMAGES = [
    (path.relative_to(paths.ROOT).as_posix(), caption)
    for path, caption in (
        (paths.TRAINING_CURVES_PNG, "Accuracy and loss per epoch"),
        (paths.CONFUSION_MATRIX_PNG, "Confusion matrix"),
        (paths.PER_CLASS_ACCURACY_PNG, "Accuracy per class"),
        (paths.MISCLASSIFIED_PNG, "Misclassified images"),
    )
]


def git_revision(rev: str) -> str:
    """`rev` if git knows it, else origin/`rev`; a clear error when neither exists."""
    for candidate in (rev, f"origin/{rev}"):
        found = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"],
            cwd=paths.ROOT,
            capture_output=True,
            text=True,
        )
        if found.returncode == 0:
            return candidate
    raise errors.UserError(
        f"base revision {rev!r} not found; fetch it (`git fetch origin {rev}`) or pass another with --base"
    )


def dvc_json(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "dvc", *args, "--json"], cwd=paths.ROOT, capture_output=True, text=True
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise errors.UserError(f"`dvc {' '.join(args)}` failed ({last}); run it by hand to see why")
    return json.loads(result.stdout or "{}")


def fmt(value, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "pct":
        return f"{value:.2%}"
    if kind == "int":
        return f"{int(value)}"
    return f"{value:.4g}"


def fmt_change(entry: dict, kind: str) -> str:
    old, new = entry.get("old"), entry.get("new")
    if old is None or new is None:
        return "new" if old is None and new is not None else "-"
    delta = new - old
    if delta == 0:
        return "="
    if kind == "pct":
        return f"{delta * 100:+.2f} pp"
    return f"{int(delta):+d}" if kind == "int" else f"{delta:+.4g}"


def metrics_table(diff: dict) -> list[str]:
    lines = ["| metric | base | this | change |", "|---|---:|---:|---:|"]
    for path, key, label, kind in HEADLINE:
        entry = diff.get(path, {}).get(key, {})
        if not entry:  # neither revision has it (an ensemble's validation accuracy, for single models)
            continue
        lines.append(
            f"| {label} | {fmt(entry.get('old'), kind)} | {fmt(entry.get('new'), kind)} | {fmt_change(entry, kind)} |"
        )
    return lines


def per_class_table(diff: dict) -> list[str]:
    rows = {
        key.removeprefix("per_class_accuracy."): entry
        for key, entry in diff.get(EVAL, {}).items()
        if key.startswith("per_class_accuracy.")
    }
    if not rows:
        return []
    lines = [
        "<details><summary>Test accuracy per class</summary>",
        "",
        "| class | base | this | change |",
        "|---|---:|---:|---:|",
    ]
    numbered = all(name.isdigit() for name in rows)  # MNIST's "0"-"9": in number order, not as strings
    for name in sorted(rows, key=int) if numbered else rows:
        entry = rows[name]
        lines.append(
            f"| {name} | {fmt(entry.get('old'), 'pct')} | {fmt(entry.get('new'), 'pct')} | {fmt_change(entry, 'pct')} |"
        )
    return lines + ["", "</details>"]


def params_table(diff: dict) -> list[str]:
    changed = {key: entry for changes in diff.values() for key, entry in changes.items()}
    if not changed:
        return ["No parameter changed."]
    lines = ["| parameter | base | this |", "|---|---|---|"]
    for key in sorted(changed):
        entry = changed[key]
        lines.append(f"| `{key}` | `{entry.get('old')}` | `{entry.get('new')}` |")
    return lines


def read_environment(rev: str | None) -> dict | None:
    """The training environment recorded at `rev` (None: the workspace), or None when it cannot be had."""
    if rev is None:
        path = paths.ENVIRONMENT_PATH
        return json.loads(path.read_text()) if path.is_file() else None
    import dvc.api
    from dvc.exceptions import DvcException

    try:
        text = dvc.api.read(str(paths.ENVIRONMENT_PATH.relative_to(paths.ROOT)), repo=str(paths.ROOT), rev=rev)
    except (DvcException, FileNotFoundError):
        return None
    return json.loads(text)


def environment_table(base: dict | None, this: dict | None) -> list[str]:
    lines = ["| | base | this |", "|---|---|---|"]
    for key, label in (
        ("cpu", "CPU"),
        ("isa", "instruction sets"),
        ("cores", "cores"),
        ("tensorflow", "TensorFlow"),
        ("keras", "Keras"),
    ):
        cells = [
            "not available" if env is None else str(env[key] if key != "isa" else " ".join(env[key]))
            for env in (base, this)
        ]
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    if base and this and (base["cpu"], base["isa"]) != (this["cpu"], this["isa"]):
        lines += [
            "",
            "Trained on different CPUs: the same params and seed give slightly different models on "
            "each (oneDNN picks other kernels), so small metric changes may come from the CPU alone.",
        ]
    return lines


def render(base: str, rev: str | None, metrics: dict, params: dict, environments: tuple, image_url: str) -> str:
    title = f"## Model review: {rev or 'workspace'} against `{base}`"
    images = [f"- [{caption}]({image_url}{path})" for path, caption in IMAGES]
    sections = [
        [title],
        ["### Metrics", ""] + metrics_table(metrics),
        per_class_table(metrics),
        ["### Parameters changed", ""] + params_table(params),
        ["### Training environment", ""] + environment_table(*environments),
        ["### Plots (this revision)", ""] + images,
        [
            "Interactive, both revisions overlaid: `dvc plots diff "
            + base
            + (f" {rev}" if rev else "")
            + "` writes `dvc_plots/index.html`."
        ],
    ]
    return "\n\n".join("\n".join(section) for section in sections if section) + "\n"


def build_report(base: str, rev: str | None, image_url: str) -> str:
    base = git_revision(base)
    revs = [base] + ([git_revision(rev)] if rev else [])
    metrics = dvc_json("metrics", "diff", *revs, "--all")
    params = dvc_json("params", "diff", *revs)
    environments = (read_environment(base), read_environment(revs[1] if rev else None))
    return render(base, rev, metrics, params, environments, image_url)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main", help="revision to compare against (default: main)")
    parser.add_argument("--rev", help="revision to review (default: the workspace)")
    parser.add_argument("--output", help="file to write (default: stdout)")
    parser.add_argument("--image-url", default="", help="prefix for the plot links, e.g. a raw-file URL")
    parser.add_argument("--headline", action="store_true", help="only the headline metrics table")
    args = parser.parse_args(argv)
    if args.headline:
        revs = [git_revision(args.base)] + ([git_revision(args.rev)] if args.rev else [])
        table = metrics_table(dvc_json("metrics", "diff", *revs, "--all"))
        print("\n".join([*table, "", "every metric: `dvc metrics show`; the full review: `make review`"]))
        return
    report = build_report(args.base, args.rev, args.image_url)
    if args.output:
        files.write_text(Path(args.output), report)
    else:
        sys.stdout.write(report)


if __name__ == "__main__":
    sys.exit(errors.run(main))
