"""The parameters in params.yaml, described once: one pydantic model per stage's section; and the params stage.

Each field carries its type, its range and its meaning. From this one description come the checks a stage
runs when it reads its section (a wrong or unknown key is one line that names it and the `dvc exp run -S`
fix), params.schema.json (editors complete and check params.yaml with it) and the README's parameter table.
Adding a parameter is one field here plus its use:

    python -m stages.params --write-schema   # after changing a model: rewrite params.schema.json
    python -m stages.params --table          # the README's parameter table, as Markdown

The params stage (`python -m stages.params --check`, first in dvc.yaml) checks every section before any other
stage runs. DVC deletes a stage's outputs before it starts the stage's command, so a bad value refused by the
stage that reads it would already have cost that stage's earlier outputs; refused here, it costs none.
Reads: params.yaml (all sections). Writes: data/params.ok, a mark with the same bytes on every run, which
fetch depends on: a change that passes the check reruns only the stages whose own section changed.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import annotated_types
import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo

from stages import common

SCHEMA_PATH = common.ROOT / "params.schema.json"
PositiveInt = Annotated[int, Field(ge=1)]
Fraction = Annotated[float, Field(ge=0, lt=1)]


def hex_digest(digest: str) -> str:
    if len(digest) != 64 or set(digest) - set("0123456789abcdef"):
        raise ValueError(f"must be 64 lowercase hex digits, got {digest!r}; compute it with `sha256sum <file>`")
    return digest


class Section(BaseModel):
    """Strict: a value of the wrong type is an error, never converted; an unknown key is an error."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Fetch(Section):
    mirrors: list[Annotated[str, Field(min_length=1)]] = Field(
        description="base URLs tried in order after `$MNIST_MIRROR` (a local directory or URL)"
    )
    timeout_s: float = Field(gt=0, description="seconds before a silent mirror counts as failed")
    deadline_s: float = Field(
        gt=0,
        description="most seconds for one file from one source, however slowly it "
        "trickles in; then the next source is tried",
    )
    max_mb: float = Field(
        gt=0,
        description="largest file accepted, in MB (MNIST's largest is 9.9); a bigger download is cut off and rejected",
    )
    sha256: dict[str, Annotated[str, AfterValidator(hex_digest)]] = Field(
        description="file name -> the SHA-256 each of the four files must have; a file that differs is rejected"
    )

    @field_validator("sha256")
    @classmethod
    def the_four_files(cls, sums: dict[str, str]) -> dict[str, str]:
        expected = set(common.RAW_FILES.values())
        if set(sums) != expected:
            raise ValueError(
                f"must list exactly {', '.join(sorted(expected))}; it lists {', '.join(sorted(sums)) or 'nothing'}"
            )
        return sums


class Preprocess(Section):
    val_fraction: float = Field(
        gt=0,
        le=0.5,
        description="share of the training set held out, stratified by "
        "digit, as the validation split for early stopping",
    )
    seed: int = Field(ge=0, description="seed of that split")


class ConvBlock(Section):
    filters: list[PositiveInt] = Field(
        min_length=1, description="one convolution (+ batch norm + ReLU) per entry, with this many filters"
    )
    kernel_size: int = Field(ge=1, description="kernel size of its convolutions")
    strides: int = Field(ge=1, description="stride of its convolutions")
    padding: Literal["valid", "same"] = Field(description="`valid` shrinks the image by the kernel, `same` does not")
    pool: bool = Field(description="2x2 max pooling after the block")
    dropout: Fraction = Field(description="dropout after the block (0: none)")


class Model(Section):
    width: float = Field(
        gt=0, description="multiplies every filter and dense-unit count (0.5: half as wide, about 3x faster)"
    )
    conv_blocks: list[ConvBlock] = Field(
        min_length=1,
        description="in order; one field of one block is set by its index: `-S train.model.conv_blocks.1.filters=[96]`",
    )
    batch_norm: bool = Field(description="batch normalisation after each convolution and hidden dense layer")
    batch_norm_momentum: Fraction = Field(
        description="momentum of its moving mean and variance (Keras's 0.99 lags in runs of 1-3 epochs)"
    )
    dense_units: list[PositiveInt] = Field(description="hidden dense layers before the softmax (may be empty)")
    dense_dropout: Fraction = Field(description="dropout after each hidden dense layer")


class Augmentation(Section):
    rotation_deg: float = Field(ge=0, le=180, description="random rotation within +-degrees (0: off)")
    shift: Fraction = Field(description="random shift up to this fraction of height and width (0: off)")
    zoom: Fraction = Field(description="random zoom in or out up to this fraction (0: off)")


class EarlyStopping(Section):
    monitor: Literal["val_accuracy", "val_loss"] = Field(
        description="what early stopping watches, on the validation split"
    )
    patience: int = Field(ge=1, description="epochs without improvement before stopping; the best weights are restored")


class Train(Section):
    seed: int = Field(ge=0, description="seed of weights, shuffling and augmentation")
    deterministic: bool = Field(
        description="TensorFlow op determinism: bitwise-repeatable runs on one CPU for 5-10% more time"
    )
    epochs: int = Field(ge=1, description="most epochs to run; early stopping may end sooner")
    batch_size: int = Field(ge=1, description="training batch size (the global one, however many workers)")
    workers: int = Field(
        ge=1,
        le=16,
        description="training processes on this machine, joined by TensorFlow's "
        "MultiWorkerMirroredStrategy into one run (1: a plain process)",
    )
    precision: Literal["float32", "mixed_bfloat16"] = Field(
        description="training arithmetic: float32, or mixed_bfloat16 (bfloat16 compute, float32 weights; fast "
        "only where the CPU has AMX or AVX512-BF16). The saved model computes in float32 either way"
    )
    learning_rate: float = Field(
        gt=0, le=1, description="Adam's peak learning rate, reached after the warm-up, then cosine decay to 0"
    )
    warmup_epochs: int = Field(ge=0, description="epochs of linear warm-up from 1% of the peak")
    label_smoothing: Fraction = Field(description="label smoothing of the cross-entropy loss")
    model: Model = Field(description="the network")
    augmentation: Augmentation = Field(description="applied to training batches only")
    early_stopping: EarlyStopping = Field(description="on the validation split")


class Evaluate(Section):
    batch_size: int = Field(ge=1, description="prediction batch size")
    misclassified_shown: int = Field(ge=1, le=400, description="digits in `plots/misclassified.png`")


class Params(Section):
    """The whole of params.yaml: one section per stage, which dvc.yaml declares as that stage's params."""

    fetch: Fetch
    preprocess: Preprocess
    train: Train
    evaluate: Evaluate


SECTIONS: dict[str, type[Section]] = {name: field.annotation for name, field in Params.model_fields.items()}
S = TypeVar("S", bound=Section)


def load(model: type[S], path: Path | None = None) -> S:
    """Read and check the section of params.yaml (or of `path`) that `model` describes."""
    name = next(name for name, section in SECTIONS.items() if section is model)
    values = read_yaml(path or common.PARAMS_PATH).get(name)
    if not isinstance(values, dict):
        raise common.UserError(f"params.yaml has no `{name}:` section; restore it from git (git checkout params.yaml)")
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise common.UserError(explain(name, model, exc.errors()[0], values)) from None


def read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise common.UserError(f"{path} not found; run the stage from the project root, which holds params.yaml")
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise common.UserError(f"{path} is not valid YAML{line}; fix its syntax")
    return data if isinstance(data, dict) else {}


def explain(name: str, model: type[Section], error: dict, values: dict) -> str:
    """One line for pydantic's first error: the dotted key, what it must be, and the fix."""
    loc, kind = list(error["loc"]), error["type"]
    if kind == "extra_forbidden":
        parent = field_at(model, loc[:-1])
        known = ", ".join(nested_model(parent.annotation).model_fields) if parent else ", ".join(model.model_fields)
        return f"params.yaml: unknown parameter {dotted(name, loc)}; known ones are {known}"
    if kind == "missing":
        return f"params.yaml: {dotted(name, loc)} is missing; add it to params.yaml"
    if kind == "value_error":  # a validator's own message
        return f"params.yaml: {dotted(name, loc)} {error['msg'].removeprefix('Value error, ')}"
    if loc and isinstance(loc[-1], int):
        loc = loc[:-1]  # a wrong item of a list: report the whole list
    field = field_at(model, loc)
    key = dotted(name, loc)
    wanted = expected(field) if field else error["msg"].removeprefix("Input should be ")  # a value in a mapping
    return (
        f"params.yaml: {key} must be {wanted}, got {value_at(values, loc)!r}; "
        f"fix it in params.yaml or with `dvc exp run -S {key}=...`"
    )


def dotted(name: str, loc: list) -> str:
    return ".".join([name, *map(str, loc)])


def value_at(values: Any, loc: list) -> Any:
    for part in loc:
        values = values[part]
    return values


def nested_model(annotation: Any) -> type[Section] | None:
    """The Section inside an annotation: the model itself, or the item type of a list of models."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, Section):
            return candidate
    return None


def field_at(model: type[Section], loc: list) -> FieldInfo | None:
    """The field that `loc` (field names and list indices) points at; None for a list's item of scalars."""
    field, current = None, model
    for part in loc:
        if isinstance(part, int):
            if field is None or nested_model(field.annotation) is None:
                return None
            continue
        if current is None or part not in current.model_fields:
            return None
        field = current.model_fields[part]
        current = nested_model(field.annotation)
    return field


def bounds(metadata: list) -> str:
    words = {annotated_types.Ge: ">=", annotated_types.Gt: ">", annotated_types.Le: "<=", annotated_types.Lt: "<"}
    parts = [f"{words[type(m)]} {getattr(m, type(m).__name__.lower())}" for m in metadata if type(m) in words]
    return " " + " and ".join(parts) if parts else ""


def describe(annotation: Any, metadata: list) -> str:
    """`a number > 0 and <= 1`, `a non-empty list of integers >= 1`, `one of valid, same`, ..."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return describe(args[0], [*metadata, *args[1:]])
    if isinstance(annotation, FieldInfo):
        return describe(annotation.annotation, [*metadata, *annotation.metadata])
    if origin is Literal:
        return "one of " + ", ".join(map(str, args))
    if origin is list:
        item = args[0]
        inner_meta = [m for a in typing.get_args(item)[1:] for m in (a.metadata if isinstance(a, FieldInfo) else [a])]
        items = (
            "mappings"
            if nested_model(item)
            else describe(typing.get_args(item)[0] if typing.get_origin(item) is Annotated else item, inner_meta)
            .replace("an integer", "integers")
            .replace("a number", "numbers")
            .replace("a string", "strings")
        )
        empty = "" if not any(isinstance(m, annotated_types.MinLen) for m in metadata) else "non-empty "
        return f"a {empty}list of {items}"
    if origin is dict or annotation is dict:
        return "a mapping"
    if isinstance(annotation, type) and issubclass(annotation, Section):
        return "a mapping"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names[annotation] + ("" if annotation is bool else bounds(metadata))


def expected(field: FieldInfo) -> str:
    return describe(field.annotation, list(field.metadata))


def schema() -> dict:
    """The JSON Schema of params.yaml, as editors use it (`# yaml-language-server: $schema=...`)."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **Params.model_json_schema()}


def table() -> str:
    """The README's parameter table: every leaf parameter, its default in params.yaml and its meaning."""
    current = read_yaml(common.PARAMS_PATH)
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
    group.add_argument("--table", action="store_true", help="print the README's parameter table")
    group.add_argument(
        "--check",
        action="store_true",
        help=f"check every section of params.yaml, then write {common.PARAMS_CHECKED.name} (the params stage)",
    )
    args = parser.parse_args(argv)
    if args.write_schema:
        common.write_text(SCHEMA_PATH, json.dumps(schema(), indent=2) + "\n")
        print(f"wrote {SCHEMA_PATH.relative_to(common.ROOT)}")
    elif args.table:
        sys.stdout.write(table())
    else:
        for model in SECTIONS.values():
            load(model)
        common.write_text(common.PARAMS_CHECKED, "params.yaml passed every check of stages/params.py\n")
        print("params.yaml is valid")


if __name__ == "__main__":
    sys.exit(common.run(main))
