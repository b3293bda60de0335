"""Locate external tools (buf, node, npm) for tests: skip locally if absent, fail in CI."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def require_tool(name: str) -> str:
    """Path of executable `name`; a missing tool fails the test when CI=true, else skips it."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is not None:
        return found
    message = f"{name} is not installed (see .ci/run: pip install -e '.[dev]', npm ci)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)
