"""From raw images and labels to what the model takes: scaled images, one-hot labels, and the stratified
validation split that early stopping watches."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from classifier.errors import UserError


def to_model_inputs(images: np.ndarray, labels: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W[, C]) uint8 and (N,) labels -> (N, H, W, C) float32 in [0, 1] and (N, num_classes) one-hot."""
    x = images.astype(np.float32) / 255.0
    if x.ndim == 3:
        x = x[..., np.newaxis]
    y = np.eye(num_classes, dtype=np.float32)[labels]
    return x, y


def split_validation(images: np.ndarray, labels: np.ndarray, val_fraction: float, seed: int):
    """Stratified split of the training set: (train_images, train_labels, val_images, val_labels)."""
    try:
        train_x, val_x, train_y, val_y = train_test_split(
            images, labels, test_size=val_fraction, stratify=labels, random_state=seed
        )
    except ValueError as exc:
        raise UserError(
            f"cannot split {len(labels)} training images with val_fraction={val_fraction} ({exc}); "
            "raise preprocess.val_fraction or use more data"
        )
    return train_x, train_y, val_x, val_y
