"""Commands for people: every flag has help and states its default; long work shows
progress on a terminal."""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Iterator

import pytest

from router.cli.common import working
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


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_long_work_shows_a_spinner_on_a_terminal_and_nothing_in_a_pipe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with working("planning 3 jobs (solver time limit 10 s)"):
        time.sleep(0.3)
    assert "planning 3 jobs (solver time limit 10 s)" in terminal.getvalue()
    assert "0:00:00" in terminal.getvalue(), "the time elapsed is shown"

    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    with working("planning 3 jobs"):
        pass
    assert pipe.getvalue() == ""
