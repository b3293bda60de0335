"""`westward`: the command line, one module per command group."""

import time

LOADING = time.monotonic()  # before the imports below: `plan --time-limit` counts them

from router.cli.main import main  # noqa: E402


def run() -> int:
    """The `westward` command: `main` with the time spent loading it counted."""
    return main(started=LOADING)


__all__ = ["main", "run"]
