"""Tables and figures for people (the CLI's rendering; --json is for scripts).

rich lays the tables out; headers are bold on a terminal and the text is plain (no
escape codes) when the output goes to a pipe or a file.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text


def format_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    right: Sequence[bool] | None = None,
) -> str:
    """Columns sized to fit under a rule; numbers right-aligned, text left-aligned
    (or right-aligned where `right` says so)."""
    if right is None:
        right = [
            bool(rows) and all(isinstance(r[i], int | float) for r in rows)
            for i in range(len(headers))
        ]
    terminal = sys.stdout.isatty()
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        header_style="bold" if terminal else "",
    )
    for header, is_right in zip(headers, right, strict=True):
        table.add_column(Text(header), justify="right" if is_right else "left", no_wrap=True)
    for row in rows:
        table.add_row(*(Text(_cell(v)) for v in row))
    out = io.StringIO()
    console = Console(
        file=out, width=1_000_000, force_terminal=terminal, no_color=not terminal, highlight=False
    )
    console.print(table)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()).strip("\n")


def cny(value: float) -> str:
    """Money for people: thousands separated, no fractions of a yuan."""
    return f"{value:,.0f}"


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)
