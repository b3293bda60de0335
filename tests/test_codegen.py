"""The committed router/v1 code matches proto/, and the proto passes `buf lint`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.tools import REPO_ROOT, require_tool

GENERATED = REPO_ROOT / "router" / "v1"


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    # protoc runs in its own process: grpc_tools and ortools each bundle a protobuf
    # runtime, and loading both into one interpreter aborts it.
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "proto" / "generate.py"), str(tmp_path)],
        check=True,
        timeout=120,
    )
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert fresh, "generator wrote nothing"
    committed = sorted(
        p.relative_to(REPO_ROOT) for p in GENERATED.iterdir() if p.name.startswith("router_")
    )
    assert committed == fresh, "router/v1 has missing or extra files: run proto/generate.py"
    stale = [
        str(rel) for rel in fresh if (tmp_path / rel).read_bytes() != (REPO_ROOT / rel).read_bytes()
    ]
    assert not stale, f"stale generated code {stale}: run `python proto/generate.py`"


def test_buf_lint_passes() -> None:
    buf = require_tool("buf")
    result = subprocess.run(
        [buf, "lint"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
