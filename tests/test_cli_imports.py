"""The quick commands stay quick: they never load the solver, plotting or gRPC stacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("ortools", "matplotlib", "grpc", "scipy", "router.solve", "router.report.pictures")

# Runs `westward ARGS` in-process, then prints the heavy modules that were loaded.
PROBE = f"""
import sys
from router.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = {HEAVY!r}
print("LOADED", sorted(m for m in sys.modules if m.startswith(heavy)), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["topology", "validate", "topology/china-edwc.yaml"],
        ["jobs", "validate", "examples/jobs/east-west-mix.yaml"],
    ],
)
def test_quick_commands_import_nothing_heavy(args: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    loaded = [line for line in done.stderr.splitlines() if line.startswith("LOADED")]
    assert loaded == ["LOADED []"], done.stderr


def test_probe_sees_a_heavy_import() -> None:
    """The probe itself works: a command that plans does load the solver."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "plan", "--jobs", "examples/jobs/realtime-east.yaml",
         "--json", "--time-limit", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "ortools" in done.stderr.splitlines()[-1], done.stderr


def test_tables_are_plain_text_in_a_pipe() -> None:
    """Human tables carry no escape codes when piped; the header sits above a rule."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "router.cli", "topology", "show"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "\x1b[" not in done.stdout
    lines = done.stdout.splitlines()
    hub = lines.index(next(line for line in lines if line.startswith("HUB")))
    assert set(lines[hub + 1]) == {"─"} and lines[hub + 2].split()[:2] == ["jingjinji", "east"]
