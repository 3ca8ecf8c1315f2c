"""Reading a section of params.yaml against its schema, and the one line that explains a wrong value.

Each section of params.yaml is described once, by a pydantic model in its own module here (fetch, preprocess,
train, evaluate): a field's type, range and meaning. A stage imports only its own section's module, so
rewording a train parameter's description reruns the params check and train, nothing else. A wrong or unknown
key is one line that names it and the `dvc exp run -S` fix.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import annotated_types
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

from classifier import paths
from classifier.errors import UserError

PositiveInt = Annotated[int, Field(ge=1)]
Fraction = Annotated[float, Field(ge=0, lt=1)]


class Section(BaseModel):
    """Strict: a value of the wrong type is an error, never converted; an unknown key is an error. A top-level
    section names its key in params.yaml (`key`)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    key: ClassVar[str] = ""


S = TypeVar("S", bound=Section)


def load(model: type[S], path: Path | None = None) -> S:
    """Read and check the section of params.yaml (or of `path`) that `model` describes."""
    name = model.key
    values = read_yaml(path or paths.PARAMS_PATH).get(name)
    if not isinstance(values, dict):
        raise UserError(f"params.yaml has no `{name}:` section; restore it from git (git checkout params.yaml)")
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise UserError(explain(name, model, exc.errors()[0], values)) from None


def read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path} not found; run the stage from the project root, which holds params.yaml")
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise UserError(f"{path} is not valid YAML{line}; fix its syntax")
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
