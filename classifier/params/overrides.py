"""Dotted overrides of params, as `dvc exp run -S` takes them: the one helper that tests, tools and the
benchmark use to change a few values and leave the rest as they are."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, TypeVar

import yaml

from classifier.params.checks import Section

S = TypeVar("S", bound=Section)


def applied(values: dict, overrides: dict[str, Any]) -> dict:
    """A deep copy of `values` with each dotted key (`train.model.width`, `model.conv_blocks.1.filters`; a
    number indexes a list) set to its value."""
    values = copy.deepcopy(values)
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = values
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(leaf) if isinstance(node, list) else leaf] = copy.deepcopy(value)
    return values


def changed(section: S, **overrides: Any) -> S:
    """A checked copy of `section` with some values changed: `changed(train, **{"model.width": 0.5})`."""
    return type(section).model_validate(applied(section.model_dump(), overrides))


def edit_file(path: Path, overrides: dict[str, Any]) -> None:
    """Apply `overrides` (keys dotted from the top: `train.epochs`) to the params file at `path`."""
    path.write_text(yaml.safe_dump(applied(yaml.safe_load(path.read_text()), overrides), sort_keys=False))
