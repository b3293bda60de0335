"""JSON Schema checks that speak plainly: `count: must be a whole number >= 0, got -5`.

The schemas in router/data/ are the single source of truth for the shape of every
file a user writes; editors use the same files for completion.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import fastjsonschema

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

from router.errors import FieldProblem
from router.model.sourcefile import format_path


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The packaged schema `name` (e.g. "topology"), parsed once."""
    text = resources.files("router").joinpath("data", f"{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator(name: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator  # only failures need its explanations

    return Draft202012Validator(load_schema(name))


@cache
def _fast_check(name: str) -> Callable[[Any], Any]:
    # Compiled to Python code: ~50x faster on valid input, which is the common case
    # (a 100,000-job batch); the explaining validator runs only when this one objects.
    # A copy: compiling rewrites every `$ref` in place to an absolute URI.
    return fastjsonschema.compile(copy.deepcopy(load_schema(name)))


def schema_problems(data: Any, name: str) -> list[FieldProblem]:
    """Every place where `data` breaks schema `name`, as plain-language problems.

    Numbers must be finite first: NaN passes every JSON Schema bound (NaN compares false).
    """
    if not _all_finite(data):
        return [
            FieldProblem(format_path(path), f"must be a finite number, got {value}")
            for path, value in _non_finite(data, ())
        ]
    try:
        _fast_check(name)(data)
        return []
    except fastjsonschema.JsonSchemaException:
        pass
    problems = [
        _explain(error, tuple(error.absolute_path), load_schema(name))
        for error in _validator(name).iter_errors(data)
    ]
    # A misspelt field is one mistake: "did you mean 'count'?" covers "count is required".
    meant = {
        _sibling(p.path, p.message.split("'")[1]) for p in problems if "did you mean" in p.message
    }
    problems = [
        p for p in problems if not (p.message.startswith("is required") and p.path in meant)
    ]
    return sorted(problems, key=lambda p: p.path)


def _all_finite(data: Any) -> bool:
    """True unless some number is NaN or infinite; C speed when `data` is JSON-like (the
    encoder refuses non-finite floats), a walk otherwise."""
    try:
        json.dumps(data, allow_nan=False)
        return True
    except ValueError:
        return False
    except TypeError:  # a YAML date or the like: not JSON
        return next(_non_finite(data, ()), None) is None


def _non_finite(
    data: Any, path: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], float]]:
    if isinstance(data, float) and not math.isfinite(data):
        yield path, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _non_finite(value, (*path, str(key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _non_finite(value, (*path, index))


def _sibling(path: str, name: str) -> str:
    parent = path.rsplit(".", 1)[0] if "." in path else ""
    return f"{parent}.{name}" if parent else name


def describe(schema: dict[str, Any]) -> str:
    """What a value of `schema` looks like, in words."""
    if "x-expected" in schema:
        return str(schema["x-expected"])
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return "one of: " + ", ".join(str(v) for v in schema["enum"])
    kind = schema.get("type")
    if kind == "integer":
        return "a whole number" + _bounds(schema)
    if kind == "number":
        return "a number" + _bounds(schema)
    if kind == "boolean":
        return "true or false"
    if kind == "string":
        return "a name" if "pattern" in schema else "text"
    if kind == "array":
        items = schema.get("items")
        return "a list" + (f" of {_plural(describe(items))}" if isinstance(items, dict) else "")
    if kind == "object":
        return "a mapping"
    return "a valid value"


def _bounds(schema: dict[str, Any]) -> str:
    parts = []
    if "minimum" in schema:
        parts.append(f">= {schema['minimum']}")
    if "exclusiveMinimum" in schema:
        parts.append(f"> {schema['exclusiveMinimum']}")
    if "maximum" in schema:
        parts.append(f"<= {schema['maximum']}")
    if "exclusiveMaximum" in schema:
        parts.append(f"< {schema['exclusiveMaximum']}")
    return (" " + " and ".join(parts)) if parts else ""


def _plural(text: str) -> str:
    for article in ("a ", "an "):
        if text.startswith(article):
            rest = text[len(article) :]
            head, _, tail = rest.partition(" ")
            return f"{head}s {tail}".strip()
    return text


def show(value: Any) -> str:
    """A value as the user wrote it, for `got ...`."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):  # a long value is cut: answers echo it, and must stay small
        text = json.dumps(value if len(value) <= 60 else value[:40], ensure_ascii=False)
        return text if len(value) <= 60 else f'{text[:-1]}..." ({len(value):,} characters)'
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)


def _resolved(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """`schema` with a local `$ref` ("#/$defs/name") merged in, so it can be described."""
    ref = schema.get("$ref", "")
    if not ref.startswith("#/$defs/"):
        return schema
    target = root.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {})
    return {**_resolved(target, root), **schema}


def _explain(
    error: ValidationError, path: tuple[str | int, ...], root: dict[str, Any]
) -> FieldProblem:
    keyword = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    where = format_path(path)
    if keyword == "required":
        missing = _missing_field(error)
        prop = _resolved(schema.get("properties", {}).get(missing, {}), root)
        hint = f"; {prop['x-if-missing']}" if "x-if-missing" in prop else ""
        return FieldProblem(format_path((*path, missing)), f"is required ({describe(prop)}){hint}")
    if keyword == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(known)) if isinstance(error.instance, dict) else []
        name = extra[0] if extra else "?"
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "expected one of: " + ", ".join(known)
        return FieldProblem(format_path((*path, name)), f"unknown field; {hint}")
    if keyword == "maxItems":
        return FieldProblem(where, f"must list at most {error.validator_value} entries")
    if keyword == "maxLength":
        return FieldProblem(where, f"must be at most {error.validator_value} characters long")
    if keyword == "minItems":
        return FieldProblem(where, f"must list at least {error.validator_value} entries")
    if keyword == "minProperties":
        options = ", ".join(sorted(schema.get("properties", {})))
        return FieldProblem(where, f"must give at least one of: {options}")
    if keyword == "uniqueItems":
        return FieldProblem(where, "must not repeat an entry")
    if keyword == "anyOf" and "x-expected" in schema:
        return FieldProblem(where, f"must give {schema['x-expected']}")
    return FieldProblem(where, f"must be {describe(schema)}, got {show(error.instance)}")


def _missing_field(error: ValidationError) -> str:
    # jsonschema says "'count' is a required property"; the name is the quoted part.
    message = error.message
    return message.split("'")[1] if message.count("'") >= 2 else message


def unknown_reference(path: str, what: str, name: str, known: set[str]) -> FieldProblem:
    """A reference to a name that does not exist, with the closest known name as a hint."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return FieldProblem(path, f"unknown {what} {name!r}{hint}")
