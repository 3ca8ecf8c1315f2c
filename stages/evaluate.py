"""Evaluate stage: score the ONNX model that predict and serve run on the held-out test set, check it against
the Keras model it came from, and draw the pictures for review.

Reads: models/model.onnx, models/model.h5, data/processed/test.npz, the per-epoch history that train logged
       under metrics/train/plots/metrics/, params.yaml `dataset` (the class names, checked against the ONNX file's)
       and `evaluate` (batch_size, misclassified_shown).
Writes: metrics/evaluate.json (test accuracy and loss, macro precision, recall and F1, misclassified count,
        per-class accuracy, and the ONNX model's agreement with the Keras model: the test images given another
        class and the largest probability difference; over 1e-5 fails the stage), plots/classification_report.csv
        (precision, recall, F1 and support per class), plots/predictions.csv (actual and predicted class per
        test image, for DVC's confusion template) and the PNGs
        plots/{confusion_matrix,training_curves,per_class_accuracy,misclassified}.png.
"""

import sys

import pandas as pd

from classifier import files, inference, keras_model, paths, plots, report
from classifier.errors import UserError, run
from classifier.params.checks import load
from classifier.params.dataset import Dataset
from classifier.params.evaluate import Evaluate

TOLERANCE = 1e-5  # largest probability difference allowed between the ONNX and the Keras model


def main() -> None:
    d, p = load(Dataset), load(Evaluate)
    history = report.read_history(paths.HISTORY_DIR)
    images, one_hot = files.load_processed("test")
    labels = one_hot.argmax(axis=1)
    classify = inference.Classifier(paths.ONNX_PATH)
    if list(classify.class_names) != d.classes:
        raise UserError(
            f"{paths.ONNX_PATH} names the classes {list(classify.class_names)}, params.yaml `dataset` "
            f"{d.classes}; export it again with `dvc repro --force export`"
        )
    probs = classify(images, p.batch_size)
    keras_probs = keras_model.load_model(paths.MODEL_PATH, d).predict(images, batch_size=p.batch_size, verbose=0)
    agreement = report.agreement(probs, keras_probs)
    if agreement["max_probability_difference"] > TOLERANCE:
        raise UserError(
            f"{paths.ONNX_PATH.name} differs from {paths.MODEL_PATH.name} by up to "
            f"{agreement['max_probability_difference']:.2g} in a probability (> {TOLERANCE:g}); "
            "export it again with `dvc repro --force export`"
        )
    metrics, cm, per_class = report.score(labels, probs, d.classes)
    files.write_json(paths.EVAL_METRICS_PATH, {**metrics, "onnx_vs_keras": agreement})
    report.write_csv(per_class, paths.CLASSIFICATION_REPORT_PATH)
    report.write_csv(pd.DataFrame({"actual": labels, "predicted": probs.argmax(axis=1)}), paths.PREDICTIONS_PATH)
    plots.plot_confusion_matrix(cm, d.classes, paths.CONFUSION_MATRIX_PNG)
    plots.plot_training_curves(history, paths.TRAINING_CURVES_PNG)
    plots.plot_per_class_accuracy(metrics["per_class_accuracy"], paths.PER_CLASS_ACCURACY_PNG)
    plots.plot_misclassified(images, labels, probs, d.classes, p.misclassified_shown, paths.MISCLASSIFIED_PNG)
    print(
        f"test accuracy {metrics['accuracy']:.4%}, loss {metrics['loss']:.4f}, "
        f"macro F1 {metrics['f1_macro']:.4f}, {metrics['misclassified']} misclassified; ONNX against Keras: "
        f"{agreement['other_class']} images of another class, probabilities within "
        f"{agreement['max_probability_difference']:.2g}"
    )
    print(per_class.to_string(index=False))


if __name__ == "__main__":
    sys.exit(run(main))
