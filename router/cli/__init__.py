"""`westward`: the command line, one module per command group."""

from router.cli.main import main

__all__ = ["main"]
