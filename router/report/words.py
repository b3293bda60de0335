"""Words for people: nouns in the right number ("1 region", "3 regions")."""

from __future__ import annotations


def noun(count: int, singular: str, many: str | None = None) -> str:
    """The noun for `count` things: `singular` for exactly one, else `many` (default +s)."""
    return singular if count == 1 else (many or singular + "s")


def plural(count: int, singular: str, many: str | None = None) -> str:
    """`count` and its noun: "1 region", "2 regions", "1,500 jobs"."""
    return f"{count:,} {noun(count, singular, many)}"
