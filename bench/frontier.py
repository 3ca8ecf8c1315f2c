"""The accuracy/time frontier of `make bench`: each trained variant (the default params, each profile of
tools/profiles.py) and the Keras reference as one point, test accuracy (median, min and max over the seeds)
against training time, in a table with the issue's targets and a plot (bench/frontier.png)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from classifier.plots import save_figure

# What each point should reach, as a test accuracy (median of the seeds) within a training-time ratio to the
# reference on the same machine (issue 23).
TARGETS = {"default": (0.996, 1.0), "accurate": (0.997, 4.0)}
REFERENCE = "Keras mnist_convnet reference"
BEST_WITHIN = (1.0, 4.0, 10.0)  # time budgets (ratios to the reference's): the most accurate point within each


def target_line(name: str, variant: dict) -> str:
    """The variant's target, and whether its median met it, or by how much it missed, in accuracy and in time."""
    accuracy, ratio = TARGETS[name]
    got, took = variant["test_accuracy"]["median"], variant["train_time_ratio"]
    misses = []
    if got < accuracy:
        misses.append(f"{(accuracy - got) * 100:.2f} pp short")
    if took > ratio:
        misses.append(f"{took / ratio:.2f} times the time allowed")
    verdict = "met" if not misses else "missed: " + ", ".join(misses)
    return (
        f"- {name}: >= {accuracy:.2%} within {ratio:g}x the reference's time; got {got:.2%} at {took:.2f}x: {verdict}."
    )


def best_within(variants: dict[str, dict], reference: dict, ratio: float) -> str:
    """The most accurate point (by its median; the reference too) trained within `ratio` times the reference's time."""
    points = [(v["label"], v["test_accuracy"]["median"], v["train_time_ratio"]) for v in variants.values()]
    points.append((REFERENCE, reference["test_accuracy"], 1.0))
    inside = [point for point in points if point[2] <= ratio]
    name, accuracy, took = max(inside, key=lambda point: (point[1], -point[2]))  # a tie: the faster
    return f"- best within {ratio:g}x: {name}, {accuracy:.2%} at {took:.2f}x."


def markdown(variants: dict[str, dict], reference: dict) -> str:
    lines = [
        "| point | seeds | test accuracy: median (min-max) | training time (median) | ratio to reference: wall, CPU "
        "| forward MFLOP per image | inference (ONNX Runtime, images/s) |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for v in variants.values():
        a = v["test_accuracy"]
        lines.append(
            f"| {v['label']} | {len(v['seeds'])} | {a['median']:.2%} ({a['min']:.2%}-{a['max']:.2%}) "
            f"| {v['train_time_s']:.0f} s | {v['train_time_ratio']:.2f}, {v['process_cpu_ratio']:.2f} "
            f"| {v['forward_mflop']} | {v['images_per_s']:,} |"
        )
    lines += [
        f"| {REFERENCE} | 1 | {reference['test_accuracy']:.2%} | {reference['train_time_s']:.0f} s "
        f"| 1.00, 1.00 | {reference['forward_mflop']} | |",
        "",
        "Targets (median of the seeds, on this CPU):",
        "",
        *(target_line(name, variants[name]) for name in TARGETS if name in variants),
        "",
        "The most accurate point (median of the seeds) within each time budget:",
        "",
        *(best_within(variants, reference, ratio) for ratio in BEST_WITHIN),
    ]
    return "\n".join(lines) + "\n"


def plot(variants: dict[str, dict], reference: dict, machine: str, path: Path) -> None:
    """Test accuracy (median, with the seeds' range as a bar) against the training-time ratio to the reference."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for v in variants.values():
        a = v["test_accuracy"]
        x, y = v["train_time_ratio"], a["median"] * 100
        ax.errorbar(x, y, yerr=[[y - a["min"] * 100], [a["max"] * 100 - y]], fmt="o", capsize=4)
        ax.annotate(
            v["label"].removesuffix(" profile"),
            (x, a["max"] * 100),
            xytext=(0, 5),
            textcoords="offset points",
            ha="center",
            fontsize=9,
        )
    ax.plot(1.0, reference["test_accuracy"] * 100, "ks")
    ax.annotate(
        "Keras reference",
        (1.0, reference["test_accuracy"] * 100),
        xytext=(7, -4),
        textcoords="offset points",
        va="top",
        fontsize=9,
    )
    for name, (accuracy, ratio) in TARGETS.items():
        if name in variants:
            ax.plot([0.03, ratio], [accuracy * 100] * 2, ":", color="grey")
            ax.plot([ratio] * 2, [accuracy * 100 - 0.1, accuracy * 100], ":", color="grey")
            ax.annotate(f"{name} target", (0.03, accuracy * 100), xytext=(2, 3), textcoords="offset points", fontsize=9)
    ax.set_xscale("log")
    ax.set_xlim(right=2 * max(v["train_time_ratio"] for v in variants.values()))
    ax.set_ylim(top=ax.get_ylim()[1] + 0.05)  # room for the labels above the bars
    ax.set_xlabel("training time / the reference's (log scale)")
    ax.set_ylabel("test accuracy (%): median of the seeds, min-max")
    ax.set_title(f"Accuracy against training time\n{machine}", fontsize=9)
    ax.grid(alpha=0.3)
    save_figure(fig, path)
