"""Named sets of parameter overrides, defined once: `make exp-fast` and `make sweep` take the fast profile from
here, and the benchmark measures the default params, each profile, and the default with mixed_bfloat16.

Usage: python -m tools.profiles NAME   prints the profile as `dvc exp run` takes it: -S key=value ...
"""

from __future__ import annotations

import shlex
import sys

from classifier import errors

PROFILES: dict[str, dict[str, object]] = {
    # For quick experiments: half width, 2 epochs at batch 512 with a higher rate, no warm-up, and none of the
    # regularisers a 2-epoch run does not need (augmentation, dense dropout, label smoothing). Chosen by
    # validation accuracy and CPU time: docs/experiments.md, rounds 2 and 4.
    "fast": {
        "train.model.width": 0.5,
        "train.epochs": 2,
        "train.batch_size": 512,
        "train.learning_rate": 0.01,
        "train.warmup_epochs": 0,
        "train.label_smoothing": 0.0,
        "train.model.dense_dropout": 0.0,
        "train.augmentation.rotation_deg": 0,
        "train.augmentation.shift": 0,
        "train.augmentation.zoom": 0,
    },
}


def set_params(name: str) -> list[str]:
    """The profile `name` as `dvc exp run` arguments: ["-S", "key=value", ...]."""
    if name not in PROFILES:
        raise errors.UserError(f"no profile named {name!r}; the profiles are: {', '.join(PROFILES)}")
    return [arg for key, value in PROFILES[name].items() for arg in ("-S", f"{key}={value}")]


def main() -> None:
    if len(sys.argv) != 2:
        raise errors.UserError(f"give one profile name: python -m tools.profiles {{{','.join(PROFILES)}}}")
    print(shlex.join(set_params(sys.argv[1])))


if __name__ == "__main__":
    sys.exit(errors.run(main))
