"""Evaluate stage: score the saved model on the held-out test set and draw the pictures for review.

Reads: models/model.h5, data/processed/test.npz, the per-epoch history that train logged under
       metrics/train/plots/metrics/, and params.yaml `evaluate` (batch_size, misclassified_shown).
Writes: metrics/evaluate.json (test accuracy and loss, macro precision, recall and F1, misclassified count,
        per-class accuracy), plots/classification_report.csv (precision, recall, F1 and support per digit),
        plots/predictions.csv (actual and predicted digit per test image, for DVC's confusion template) and
        the PNGs plots/{confusion_matrix,training_curves,per_class_accuracy,misclassified}.png.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import classification_report, confusion_matrix, log_loss

from stages import common, model_file, params

DIGITS = list(range(common.NUM_CLASSES))


def score(labels: np.ndarray, probs: np.ndarray) -> tuple[dict, np.ndarray, pd.DataFrame]:
    """Metrics for metrics/evaluate.json, the confusion matrix and the classification report per digit."""
    predicted = probs.argmax(axis=1)
    cm = confusion_matrix(labels, predicted, labels=DIGITS)
    report = classification_report(labels, predicted, labels=DIGITS, output_dict=True, zero_division=0)
    per_class = cm.diagonal() / np.maximum(cm.sum(axis=1), 1)
    metrics = {
        "accuracy": round(float(report["accuracy"]), 6),
        "loss": round(float(log_loss(labels, probs, labels=DIGITS)), 6),
        "precision_macro": round(float(report["macro avg"]["precision"]), 6),
        "recall_macro": round(float(report["macro avg"]["recall"]), 6),
        "f1_macro": round(float(report["macro avg"]["f1-score"]), 6),
        "misclassified": int((predicted != labels).sum()),
        "per_class_accuracy": {str(d): round(float(a), 6) for d, a in zip(DIGITS, per_class, strict=True)},
    }
    per_digit = pd.DataFrame([report[str(d)] for d in DIGITS]).rename(columns={"f1-score": "f1"})
    per_digit = per_digit.round(6).astype({"support": int})
    per_digit.insert(0, "digit", DIGITS)
    return metrics, cm, per_digit


def read_history(history_dir: Path) -> pd.DataFrame:
    """One row per epoch with train/eval loss and accuracy, from dvclive's TSV files."""
    columns = {}
    for split in ("train", "eval"):
        for metric in ("loss", "accuracy"):
            path = history_dir / split / f"{metric}.tsv"
            if not path.is_file():
                raise common.UserError(f"{path} is missing; run the train stage first (`dvc repro train`)")
            columns[f"{split}_{metric}"] = pd.read_csv(path, sep="\t").set_index("step")[metric]
    history = pd.DataFrame(columns)
    history.index = history.index + 1
    return history


def save_figure(fig: plt.Figure, path: Path) -> None:
    with common.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_confusion_matrix(cm: np.ndarray, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 6))
    sns.heatmap(
        cm,
        annot=True,
        fmt="d",
        cmap="Blues",
        cbar=False,
        ax=ax,
        annot_kws={"fontsize": 8},
        xticklabels=DIGITS,
        yticklabels=DIGITS,
    )
    ax.set(
        xlabel="predicted digit",
        ylabel="true digit",
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
    fig, ax = plt.subplots(figsize=(7, 4))
    values = np.array(list(per_class.values())) * 100
    sns.barplot(x=list(per_class), y=values, color="steelblue", ax=ax)
    for i, v in enumerate(values):
        ax.text(i, v, f"{v:.2f}", ha="center", va="bottom", fontsize=8)
    ax.set(
        xlabel="digit", ylabel="accuracy (%)", title="Test accuracy per digit", ylim=(max(0.0, values.min() - 2), 100.2)
    )
    save_figure(fig, path)


def plot_misclassified(images: np.ndarray, labels: np.ndarray, probs: np.ndarray, shown: int, path: Path) -> None:
    """A grid of the most confidently wrong test digits, each titled true, predicted and confidence."""
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-probs[wrong, predicted[wrong]])][:shown]
    cols = max(1, min(9, len(wrong)))
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.3, rows * 1.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong, strict=False):  # the grid may have spare cells
        ax.imshow(images[i, :, :, 0], cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"true {labels[i]}, pred {predicted[i]}\n{probs[i, predicted[i]]:.0%}", fontsize=7)
    fig.suptitle(f"Misclassified test digits: {len(wrong)} most confident of {(predicted != labels).sum()}", fontsize=9)
    save_figure(fig, path)


def write_csv(table: pd.DataFrame, path: Path) -> None:
    with common.atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def main() -> None:
    p = params.load(params.Evaluate)
    history = read_history(common.HISTORY_DIR)
    model = model_file.load_model(common.MODEL_PATH)
    images, one_hot = common.load_processed("test")
    labels = one_hot.argmax(axis=1)
    probs = model_file.Classifier(model)(images, p.batch_size)
    metrics, cm, per_digit = score(labels, probs)
    common.write_json(common.EVAL_METRICS_PATH, metrics)
    write_csv(per_digit, common.CLASSIFICATION_REPORT_PATH)
    write_csv(pd.DataFrame({"actual": labels, "predicted": probs.argmax(axis=1)}), common.PREDICTIONS_PATH)
    plot_confusion_matrix(cm, common.CONFUSION_MATRIX_PNG)
    plot_training_curves(history, common.TRAINING_CURVES_PNG)
    plot_per_class_accuracy(metrics["per_class_accuracy"], common.PER_CLASS_ACCURACY_PNG)
    plot_misclassified(images, labels, probs, p.misclassified_shown, common.MISCLASSIFIED_PNG)
    print(
        f"test accuracy {metrics['accuracy']:.4%}, loss {metrics['loss']:.4f}, "
        f"macro F1 {metrics['f1_macro']:.4f}, {metrics['misclassified']} misclassified"
    )
    print(per_digit.to_string(index=False))


if __name__ == "__main__":
    sys.exit(common.run(main))
