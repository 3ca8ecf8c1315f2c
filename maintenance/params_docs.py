"""params.yaml's documentation, generated from its schema (classifier/params/): the JSON Schema editors use,
and the parameter table of docs/parameters.md.

Usage: python -m maintenance.params_docs --write-schema   # after changing a section: rewrite params.schema.json
       python -m maintenance.params_docs --table          # the parameter table, as Markdown
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from typing import Any

from classifier import files, paths
from classifier.errors import run
from classifier.params.checks import Section, nested_model, read_yaml
from classifier.params.sections import SECTIONS, Params

SCHEMA_PATH = paths.ROOT / "params.schema.json"


def schema() -> dict:
    """The JSON Schema of params.yaml, as editors use it (`# yaml-language-server: $schema=...`)."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **Params.model_json_schema()}


def table() -> str:
    """The README's parameter table: every leaf parameter, its default in params.yaml and its meaning."""
    current = read_yaml(paths.PARAMS_PATH)
    lines = ["| parameter | default | meaning |", "|---|---|---|"]

    def walk(model: type[Section], prefix: str, values: Any) -> None:
        for name, field in model.model_fields.items():
            key, value = f"{prefix}.{name}", values.get(name) if isinstance(values, dict) else None
            inner = nested_model(field.annotation)
            if inner and typing.get_origin(field.annotation) is not list:
                walk(inner, key, value)
                continue
            shown = (
                f"{len(value)} blocks"
                if inner
                else "(see params.yaml)"
                if isinstance(value, dict)
                else f"{len(value)} entries"
                if isinstance(value, list) and any(isinstance(v, str) for v in value)
                else json.dumps(value)
                if isinstance(value, (list, bool))
                else value
            )
            meaning = field.description or ""
            if inner:
                meaning += "; each block: " + "; ".join(
                    f"`{n}`: {f.description}" for n, f in inner.model_fields.items()
                )
            lines.append(f"| `{key}` | {shown} | {meaning} |")

    for name, model in SECTIONS.items():
        walk(model, name, current.get(name))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write-schema", action="store_true", help=f"rewrite {SCHEMA_PATH.name}")
    group.add_argument("--table", action="store_true", help="print the parameter table")
    args = parser.parse_args(argv)
    if args.write_schema:
        files.write_text(SCHEMA_PATH, json.dumps(schema(), indent=2) + "\n")
        print(f"wrote {SCHEMA_PATH.relative_to(paths.ROOT)}")
    else:
        sys.stdout.write(table())


if __name__ == "__main__":
    sys.exit(run(main))
