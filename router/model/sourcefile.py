"""Source files (YAML, JSON, JSON Lines) read with the line of every field, so errors can
say `file:line: path: ...`.

YAML goes through libyaml's C parser when it is available, and the data is built
straight from its events (a node tree of 100,000 jobs held ~1 GB). Lines come from a
node tree composed only when an error needs one, so loading stays linear and light.
JSON Lines files hold one job per line.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from router.errors import FieldProblem, InvalidInputError

PathKey = tuple[str | int, ...]
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader when libyaml is built

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
MAX_DEPTH = 64  # nesting levels read (a jobs file needs 4; deeper ones exhaust the stack)
MAX_ALIASED = 100_000  # values YAML aliases may repeat in one file


def format_path(path: PathKey) -> str:
    """Render ('sites', 3, 'pools', 0, 'count') as `sites[3].pools[0].count`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def parse_path(dotted: str) -> PathKey:
    """The inverse of format_path."""
    return tuple(int(index) if index else name for name, index in _PATH_PART.findall(dotted))


@dataclass(frozen=True)
class SourceFile:
    """Parsed data, and a way to find the line each field starts on."""

    name: str
    data: Any
    find_line: Callable[[PathKey], int | None] = lambda path: None

    def line_of(self, path: PathKey) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        return self.find_line(path)

    def locate(self, problems: list[FieldProblem]) -> InvalidInputError:
        """Attach this file's name and lines to path-only problems."""
        located = [
            FieldProblem(p.path, p.message, self.name, self.find_line(parse_path(p.path)))
            for p in problems
        ]
        return InvalidInputError(sorted(located, key=lambda p: (p.line or 0, p.path)))


def read_source(path: str | Path) -> SourceFile:
    """Read a `.json`, `.jsonl` (one job per line, as {"jobs": [...]}) or YAML file."""
    text = _read_text(path)
    suffix = Path(path).suffix.lower()
    if suffix == ".jsonl":
        return parse_json_lines(text, str(path))
    if suffix == ".json":
        return parse_json(text, str(path))
    return parse_yaml(text, str(path))


def read_yaml(path: str | Path) -> SourceFile:
    """Read a YAML file; syntax errors and duplicate keys become InvalidInputError."""
    return parse_yaml(_read_text(path), str(path))


def parse_yaml(text: str, name: str = "<string>") -> SourceFile:
    """Parse YAML text straight from the parser's events (no node tree is kept: a tree of
    100,000 jobs held ~1 GB); the tree is composed again only when a line is looked up."""
    try:
        data = _Builder(name).document(yaml.parse(text, Loader=Loader))
    except yaml.MarkedYAMLError as exc:
        raise InvalidInputError([_syntax_problem(exc, name)]) from None
    except yaml.YAMLError as exc:  # e.g. a reader error on control characters
        raise InvalidInputError([FieldProblem("", f"invalid YAML: {exc}", name)]) from None
    if data is _EMPTY:
        return SourceFile(name, None, lambda path: 1)

    @functools.cache
    def root() -> yaml.Node | None:
        return yaml.compose(text, Loader=Loader)

    return SourceFile(name, data, lambda path: _node_line(root(), path))


def parse_json(text: str, name: str = "<string>") -> SourceFile:
    """Parse JSON; fields are located to the line of the top-level list entry they are in."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise InvalidInputError([_too_deep(name, 1)]) from None
    except json.JSONDecodeError as exc:
        problem = FieldProblem(
            "", f"invalid JSON: {exc.msg} (column {exc.colno})", name, exc.lineno
        )
        raise InvalidInputError([problem]) from None
    return SourceFile(name, data, lambda path: 1)


def parse_json_lines(text: str, name: str = "<string>") -> SourceFile:
    """Parse JSON Lines: one job object per non-blank line, read as {"jobs": [...]}."""
    jobs: list[Any] = []
    line_numbers: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            jobs.append(json.loads(line))
        except RecursionError:
            raise InvalidInputError([_too_deep(name, number)]) from None
        except json.JSONDecodeError as exc:
            message = f"invalid JSON: {exc.msg} (column {exc.colno})"
            raise InvalidInputError([FieldProblem("", message, name, number)]) from None
        line_numbers.append(number)

    def find_line(path: PathKey) -> int | None:
        if len(path) >= 2 and isinstance(path[1], int) and 0 <= path[1] < len(line_numbers):
            return line_numbers[path[1]]
        return line_numbers[0] if line_numbers else 1

    return SourceFile(name, {"jobs": jobs}, find_line)


_EMPTY = object()  # a stream with no document


class _Builder:
    """Python data from parser events; scalars of the common tags built directly (fast),
    anchors remembered for their aliases."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ctor = yaml.SafeLoader("")
        # The same few plain texts (types, kinds, numbers) recur on every job: resolve once.
        self.resolve = functools.lru_cache(maxsize=4096)(self._resolve)
        self.anchors: dict[str, tuple[Any, int]] = {}  # each value, and the values it holds
        self.values = 0  # entries of lists and mappings built, aliases counted as they repeat
        self.aliased = 0  # of those, the ones repeated by aliases
        self.path: list[str | int] = []

    def document(self, events: Iterator[yaml.Event]) -> Any:
        """The one document's data, or _EMPTY for an empty stream."""
        next(events)  # StreamStartEvent
        event = next(events)
        if isinstance(event, yaml.StreamEndEvent):
            return _EMPTY
        data = self.build(events, next(events))
        next(events)  # DocumentEndEvent
        event = next(events)
        if not isinstance(event, yaml.StreamEndEvent):
            problem = FieldProblem("", "expected a single document in the file")
            raise InvalidInputError([_at(problem, self.name, _line(event))])
        return data

    def build(self, events: Iterator[yaml.Event], event: yaml.Event) -> Any:
        if isinstance(event, yaml.AliasEvent):
            return self.alias(event)
        if len(self.path) > MAX_DEPTH:
            message = f"nested more than {MAX_DEPTH} levels deep"
            raise InvalidInputError([_at(FieldProblem("", message), self.name, _line(event))])
        start = self.values
        if isinstance(event, yaml.ScalarEvent):
            result = self.scalar(event)
        elif isinstance(event, yaml.SequenceStartEvent):
            result = []
            for index, item in enumerate(iter(events.__next__, None)):
                if isinstance(item, yaml.SequenceEndEvent):
                    break
                self.path.append(index)
                result.append(self.build(events, item))
                self.path.pop()
            self.values += len(result)
        elif isinstance(event, yaml.MappingStartEvent):
            result = self.mapping(events)
            self.values += len(result)
        else:
            problem = FieldProblem(format_path(tuple(self.path)), f"unexpected {event}")
            raise InvalidInputError([_at(problem, self.name, _line(event))])
        if event.anchor is not None:
            self.anchors[event.anchor] = (result, self.values - start + 1)
        return result

    def alias(self, event: yaml.AliasEvent) -> Any:
        """The anchored value, shared; refused once aliases repeat too much (a few lines
        of nested aliases can stand for billions of values)."""
        where = format_path(tuple(self.path))
        if event.anchor not in self.anchors:
            message = f"alias *{event.anchor} names no anchor defined before it"
            raise InvalidInputError([_at(FieldProblem(where, message), self.name, _line(event))])
        value, size = self.anchors[event.anchor]
        self.values += size
        self.aliased += size
        if self.aliased > MAX_ALIASED:
            message = f"aliases repeat more than {MAX_ALIASED:,} values"
            raise InvalidInputError([_at(FieldProblem(where, message), self.name, _line(event))])
        return value

    def mapping(self, events: Iterator[yaml.Event]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_event in iter(events.__next__, None):
            if isinstance(key_event, yaml.MappingEndEvent):
                return result
            key = self.scalar(key_event) if isinstance(key_event, yaml.ScalarEvent) else None
            if not isinstance(key, str | int | float | bool):
                problem = FieldProblem(format_path(tuple(self.path)), "keys must be plain names")
                raise InvalidInputError([_at(problem, self.name, _line(key_event))])
            key = str(key)
            self.path.append(key)
            if key in result:
                problem = FieldProblem(format_path(tuple(self.path)), "duplicate key")
                raise InvalidInputError([_at(problem, self.name, _line(key_event))])
            result[key] = self.build(events, next(events))
            self.path.pop()
        return result

    def scalar(self, event: yaml.ScalarEvent) -> Any:
        text = event.value
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolve(text, event.implicit)
        if tag == _STR:
            return text
        try:
            if tag == _INT:
                return int(text)
            if tag == _FLOAT:
                return float(text)
        except ValueError:
            pass  # 0x1F, 1:30, .inf and friends: the full constructor knows them
        node = yaml.ScalarNode(tag, text, style=event.style)
        return self.ctor.construct_object(node, deep=True)

    def _resolve(self, text: str, implicit: tuple[bool, bool]) -> str:
        tag: str = self.ctor.resolve(yaml.ScalarNode, text, implicit)  # type: ignore[no-untyped-call]
        return tag


def _too_deep(name: str, line: int) -> FieldProblem:
    return FieldProblem("", "invalid JSON: nested too deeply to read", name, line)


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1 if event.start_mark is not None else 1


def _node_line(root: yaml.Node | None, path: PathKey) -> int:
    """The line of the deepest node on `path` (a key's line for mapping entries)."""
    if root is None:
        return 1
    node, line = root, root.start_mark.line + 1
    for part in path:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                    node, line = value_node, key_node.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


# PyYAML's words for the common mistakes, and what the author most likely has to change.
# PyYAML's words first, then libyaml's (the C loader) for the same mistake.
_SYNTAX_HINTS = (
    (
        ("mapping values are not allowed here", "mapping values are not allowed in this"),
        "a `key:` where a value was expected: indent this line like the keys above it, "
        "or quote a value that contains ': '",
    ),
    (
        ("found character '\\t'", "found character that cannot start any token"),
        "indent with spaces: YAML does not allow tabs (or quote a value starting with @ or `)",
    ),
    (
        ("expected <block end>", "did not find expected key", "did not find expected '-'"),
        "this line is indented differently from the entries above it: line its keys up "
        "with theirs, and each `- ` item with the other items",
    ),
    (
        ("could not find expected ':'",),
        "a key without its `:`, or a value that runs onto the next line (quote it)",
    ),
    (("expected ',' or ']'",), "a `[` list that is not closed with `]`"),
    (("expected ',' or '}'",), "a `{` mapping that is not closed with `}`"),
    (("while scanning a quoted scalar",), "a quote that is never closed"),
)


def _syntax_problem(exc: yaml.MarkedYAMLError, name: str) -> FieldProblem:
    """A YAML syntax error at line and column, with a hint for the common mistakes."""
    problem = exc.problem or "invalid YAML"
    said = f"{exc.context or ''} {problem}"
    hint = next((h for words, h in _SYNTAX_HINTS if any(w in said for w in words)), None)
    # An unclosed quote or bracket is found at the end of the file; point to where it opened.
    at_end = "end of stream" in problem or "<stream end>" in problem
    # libyaml reports an unclosed [ or { where it gave up; the context marks the opening.
    at_end = at_end or (exc.context or "").startswith("while parsing a flow")
    mark = (exc.context_mark if at_end else None) or exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
    message = f"invalid YAML: {hint} ({problem})" if hint else f"invalid YAML: {problem}"
    return FieldProblem("", message, name, line, column)


def _at(problem: FieldProblem, name: str, line: int) -> FieldProblem:
    return FieldProblem(problem.path, problem.message, name, line)


def _read_text(path: str | Path) -> str:
    name = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(
            [FieldProblem("", f"cannot read file: {exc.strerror}", name)]
        ) from None
    except UnicodeDecodeError:
        raise InvalidInputError([FieldProblem("", "not UTF-8 text", name)]) from None
