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
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or "invalid YAML"
        raise InvalidInputError(
            [FieldProblem("", f"invalid YAML: {problem}", name, line)]
        ) from None
    if root is None:
        return SourceFile(name, None, {(): 1})
    lines: dict[PathKey, int] = {}
    constructor = yaml.SafeLoader("")
    data = _build(root, (), lines, constructor, name)
    return SourceFile(name, data, lines)


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
