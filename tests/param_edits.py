"""The tests' own training parameters, and checked copies of a params section with some values changed."""

from typing import Any, TypeVar

from stages import params

S = TypeVar("S", bound=params.Section)

# The tests' own training parameters, independent of params.yaml, so that an experiment on the defaults
# never breaks a unit test: a small strided CNN that learns the synthetic digits in a few epochs.
TRAIN = {
    "seed": 1,
    "deterministic": False,
    "epochs": 6,
    "batch_size": 32,
    "workers": 1,
    "precision": "float32",
    "learning_rate": 0.01,
    "warmup_epochs": 0,
    "label_smoothing": 0.0,
    "model": {
        "width": 0.25,
        "batch_norm": True,
        "batch_norm_momentum": 0.9,
        "dense_units": [64],
        "dense_dropout": 0.2,
        "conv_blocks": [
            {"filters": [32], "kernel_size": 5, "strides": 2, "padding": "valid", "pool": False, "dropout": 0.0},
            {"filters": [64], "kernel_size": 3, "strides": 1, "padding": "same", "pool": True, "dropout": 0.2},
        ],
    },
    "augmentation": {"rotation_deg": 10, "shift": 0.1, "zoom": 0.1},
    "early_stopping": {"monitor": "val_accuracy", "patience": 2},
}


def changed(section: S, **changes: Any) -> S:
    """A checked copy of `section` with some values changed; nested keys dotted as `-S` takes them:
    `changed(params, **{"model.width": 0.5})`."""
    values = section.model_dump()
    for key, value in changes.items():
        *parents, leaf = key.split(".")
        node = values
        for parent in parents:
            node = node[int(parent)] if isinstance(node, list) else node[parent]
        node[leaf] = value
    return type(section).model_validate(values)
