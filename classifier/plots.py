"""The review pictures the evaluate stage draws: confusion matrix, training curves, per-class accuracy and the
most confidently misclassified test images."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from classifier import files


def save_figure(fig: plt.Figure, path: Path) -> None:
    with files.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_confusion_matrix(cm: np.ndarray, classes: list[str], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 6))
    sns.heatmap(
        cm,
        annot=True,
        fmt="d",
        cmap="Blues",
        cbar=False,
        ax=ax,
        annot_kws={"fontsize": 8},
        xticklabels=classes,
        yticklabels=classes,
    )
    ax.set(
        xlabel="predicted class",
        ylabel="true class",
        title=f"Confusion matrix, test set ({cm.trace()} of {cm.sum()} correct)",
    )
    save_figure(fig, path)


def plot_training_curves(history: pd.DataFrame, path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("accuracy", "loss"), strict=True):
        ax.plot(history.index, history[f"train_{metric}"], marker="o", label="training batches")
        ax.plot(history.index, history[f"eval_{metric}"], marker="o", label="validation")
        ax.set(xlabel="epoch", ylabel=metric, title=f"{metric.capitalize()} per epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    save_figure(fig, path)


def plot_per_class_accuracy(per_class: dict[str, float], path: Path) -> None:
    """A bar per class (its name from the keys), labelled with its test accuracy."""
    fig, ax = plt.subplots(figsize=(7, 4))
    values = np.array(list(per_class.values())) * 100
    sns.barplot(x=list(per_class), y=values, color="steelblue", ax=ax)
    for i, v in enumerate(values):
        ax.text(i, v, f"{v:.2f}", ha="center", va="bottom", fontsize=8)
    ax.set(
        xlabel="class", ylabel="accuracy (%)", title="Test accuracy per class", ylim=(max(0.0, values.min() - 2), 100.2)
    )
    save_figure(fig, path)


def plot_misclassified(
    images: np.ndarray, labels: np.ndarray, probs: np.ndarray, classes: list[str], shown: int, path: Path
) -> None:
    """A grid of the most confidently wrong test images, each titled true, predicted and confidence."""
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-probs[wrong, predicted[wrong]])][:shown]
    cols = max(1, min(9, len(wrong)))
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.3, rows * 1.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong, strict=False):  # the grid may have spare cells
        image = images[i] if images.shape[-1] == 3 else images[i, :, :, 0]
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=1)
        guess = f"pred {classes[predicted[i]]} ({probs[i, predicted[i]]:.0%})"
        ax.set_title(f"true {classes[labels[i]]}\n{guess}", fontsize=6)
    fig.suptitle(f"Misclassified test images: {len(wrong)} most confident of {(predicted != labels).sum()}", fontsize=9)
    save_figure(fig, path)
