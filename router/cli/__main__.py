"""`python -m router.cli`: the same as the `westward` command."""

import sys

from router.cli import run

sys.exit(run())
