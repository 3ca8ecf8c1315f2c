"""Where the pipeline's stages read and write, relative to the project root (dvc.yaml declares the same paths)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARAMS_PATH = ROOT / "params.yaml"

PARAMS_CHECKED = ROOT / "data" / "params.ok"  # the params stage's mark: params.yaml passed every check
RAW_DIR = ROOT / "data" / "raw"
PROCESSED_DIR = ROOT / "data" / "processed"
MODEL_PATH = ROOT / "models" / "model.h5"  # the Keras model, as trained
ONNX_PATH = ROOT / "models" / "model.onnx"  # the same model for inference: what predict, serve and evaluate run
TRAIN_LIVE_DIR = ROOT / "metrics" / "train"  # dvclive's folder: metrics.json and plots/metrics/{train,eval}/*.tsv
TRAIN_METRICS_PATH = TRAIN_LIVE_DIR / "metrics.json"
HISTORY_DIR = TRAIN_LIVE_DIR / "plots" / "metrics"
ENVIRONMENT_PATH = TRAIN_LIVE_DIR / "environment.json"
EVAL_METRICS_PATH = ROOT / "metrics" / "evaluate.json"
PLOTS_DIR = ROOT / "plots"
PREDICTIONS_PATH = PLOTS_DIR / "predictions.csv"
CLASSIFICATION_REPORT_PATH = PLOTS_DIR / "classification_report.csv"
CONFUSION_MATRIX_PNG = PLOTS_DIR / "confusion_matrix.png"
TRAINING_CURVES_PNG = PLOTS_DIR / "training_curves.png"
PER_CLASS_ACCURACY_PNG = PLOTS_DIR / "per_class_accuracy.png"
MISCLASSIFIED_PNG = PLOTS_DIR / "misclassified.png"


def processed_path(split: str) -> Path:
    """data/processed/<split>.npz, for split train, val or test."""
    return PROCESSED_DIR / f"{split}.npz"
