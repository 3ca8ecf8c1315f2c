"""Scoring a model's test-set probabilities: the metrics, the confusion matrix and the per-class table for review,
and the per-epoch history that training logged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import classification_report, confusion_matrix, log_loss

from classifier import files
from classifier.errors import UserError


def score(labels: np.ndarray, probs: np.ndarray, classes: list[str]) -> tuple[dict, np.ndarray, pd.DataFrame]:
    """Metrics for metrics/evaluate.json, the confusion matrix and the classification report per class; `classes`
    names label i as classes[i]."""
    predicted = probs.argmax(axis=1)
    indices = list(range(len(classes)))
    cm = confusion_matrix(labels, predicted, labels=indices)
    report = classification_report(
        labels, predicted, labels=indices, target_names=classes, output_dict=True, zero_division=0
    )
    per_class = cm.diagonal() / np.maximum(cm.sum(axis=1), 1)
    metrics = {
        "accuracy": round(float(report["accuracy"]), 6),
        "loss": round(float(log_loss(labels, probs, labels=indices)), 6),
        "precision_macro": round(float(report["macro avg"]["precision"]), 6),
        "recall_macro": round(float(report["macro avg"]["recall"]), 6),
        "f1_macro": round(float(report["macro avg"]["f1-score"]), 6),
        "misclassified": int((predicted != labels).sum()),
        "per_class_accuracy": {name: round(float(a), 6) for name, a in zip(classes, per_class, strict=True)},
    }
    per_class_table = pd.DataFrame([report[name] for name in classes]).rename(columns={"f1-score": "f1"})
    per_class_table = per_class_table.round(6).astype({"support": int})
    per_class_table.insert(0, "class", classes)
    return metrics, cm, per_class_table


def read_history(history_dir: Path) -> pd.DataFrame:
    """One row per epoch with train/eval loss and accuracy, from dvclive's TSV files."""
    columns = {}
    for split in ("train", "eval"):
        for metric in ("loss", "accuracy"):
            path = history_dir / split / f"{metric}.tsv"
            if not path.is_file():
                raise UserError(f"{path} is missing; run the train stage first (`dvc repro train`)")
            columns[f"{split}_{metric}"] = pd.read_csv(path, sep="\t").set_index("step")[metric]
    history = pd.DataFrame(columns)
    history.index = history.index + 1
    return history


def write_csv(table: pd.DataFrame, path: Path) -> None:
    with files.atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def agreement(probs: np.ndarray, reference: np.ndarray) -> dict:
    """How far two models' probabilities on the same images are apart: the images given another class, and the
    largest difference in any probability."""
    return {
        "other_class": int((probs.argmax(axis=1) != reference.argmax(axis=1)).sum()),
        "max_probability_difference": float(f"{np.abs(probs - reference).max():.3g}") if len(probs) else 0.0,
    }
