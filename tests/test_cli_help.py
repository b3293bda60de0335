"""Every flag of every `westward` command has help, and every default it has is stated."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from router.cli.main import build_parser


def options(parser: argparse.ArgumentParser, name: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                yield from options(sub, f"{name} {command}")
        elif not isinstance(action, argparse._HelpAction | argparse._VersionAction):
            yield name, action


def test_every_flag_has_help_and_states_its_default() -> None:
    undocumented = []
    for command, action in options(build_parser(), "westward"):
        flag = "/".join(action.option_strings) or action.dest
        if action.help == argparse.SUPPRESS:
            continue
        if not action.help:
            undocumented.append(f"{command} {flag}: no help")
            continue
        has_default = action.default not in (None, False, [], argparse.SUPPRESS)
        if has_default and "default" not in action.help:
            undocumented.append(f"{command} {flag}: default {action.default!r} not stated")
    assert undocumented == []
