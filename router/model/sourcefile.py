"""YAML files read with the line of every field, so errors can say `file:line: path: ...`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from router.errors import FieldProblem, InvalidInputError

PathKey = tuple[str | int, ...]


def format_path(path: PathKey) -> str:
    """Render ('sites', 3, 'pools', 0, 'count') as `sites[3].pools[0].count`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True)
class SourceFile:
    """Parsed YAML data with the line each field starts on."""

    name: str
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line_of(self, path: PathKey) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]

    def locate(self, problems: list[FieldProblem]) -> InvalidInputError:
        """Attach this file's name and lines to path-only problems."""
        located = [
            FieldProblem(p.path, p.message, self.name, self._line_for(p.path)) for p in problems
        ]
        return InvalidInputError(sorted(located, key=lambda p: (p.line or 0, p.path)))

    def _line_for(self, dotted: str) -> int | None:
        by_text = {format_path(k): v for k, v in self.lines.items()}
        while dotted:
            if dotted in by_text:
                return by_text[dotted]
            cut = max(dotted.rfind("."), dotted.rfind("["))
            dotted = dotted[:cut] if cut > 0 else ""
        return self.lines.get(())


def read_yaml(path: str | Path) -> SourceFile:
    """Read a YAML file; syntax errors and duplicate keys become InvalidInputError."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(
            [FieldProblem("", f"cannot read file: {exc.strerror}", name)]
        ) from None
    except UnicodeDecodeError:
        raise InvalidInputError([FieldProblem("", "not UTF-8 text", name)]) from None
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str = "<string>") -> SourceFile:
    """Parse YAML text, remembering the line of every mapping key and list entry."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise InvalidInputError([_syntax_problem(exc, name)]) from None
    if root is None:
        return SourceFile(name, None, {(): 1})
    lines: dict[PathKey, int] = {}
    constructor = yaml.SafeLoader("")
    data = _build(root, (), lines, constructor, name)
    return SourceFile(name, data, lines)


# PyYAML's words for the common mistakes, and what the author most likely has to change.
_SYNTAX_HINTS = (
    (
        "mapping values are not allowed here",
        "a `key:` where a value was expected: indent this line like the keys above it, "
        "or quote a value that contains ': '",
    ),
    ("found character '\\t'", "indent with spaces: YAML does not allow tabs"),
    (
        "expected <block end>",
        "this line is indented differently from the entries above it: line its keys up "
        "with theirs, and each `- ` item with the other items",
    ),
    (
        "could not find expected ':'",
        "a key without its `:`, or a value that runs onto the next line (quote it)",
    ),
    ("expected ',' or ']'", "a `[` list that is not closed with `]`"),
    ("expected ',' or '}'", "a `{` mapping that is not closed with `}`"),
    ("while scanning a quoted scalar", "a quote that is never closed"),
)


def _syntax_problem(exc: yaml.MarkedYAMLError, name: str) -> FieldProblem:
    """A YAML syntax error at line and column, with a hint for the common mistakes."""
    problem = exc.problem or "invalid YAML"
    said = f"{exc.context or ''} {problem}"
    hint = next((h for words, h in _SYNTAX_HINTS if words in said), None)
    # An unclosed quote or bracket is found at the end of the file; point to where it opened.
    at_end = "end of stream" in problem or "<stream end>" in problem
    mark = (exc.context_mark if at_end else None) or exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
    message = f"invalid YAML: {hint} ({problem})" if hint else f"invalid YAML: {problem}"
    return FieldProblem("", message, name, line, column)


def _build(
    node: yaml.Node, path: PathKey, lines: dict[PathKey, int], ctor: yaml.SafeLoader, name: str
) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = ctor.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool):
                line = key_node.start_mark.line + 1
                raise InvalidInputError(
                    [FieldProblem(format_path(path), "keys must be plain names", name, line)]
                )
            key = str(key)
            if key in result:
                line = key_node.start_mark.line + 1
                raise InvalidInputError(
                    [FieldProblem(format_path((*path, key)), "duplicate key", name, line)]
                )
            lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _build(value_node, (*path, key), lines, ctor, name)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), lines, ctor, name) for i, item in enumerate(node.value)]
    return ctor.construct_object(node, deep=True)
