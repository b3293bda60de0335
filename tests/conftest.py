"""Shared fixtures: the small test topology and paths to the repository's files."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.model.topology import Topology, load_topology

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
MINI = DATA / "mini.yaml"
SHARED = ROOT.parent / "shared"

pytest_plugins = ["tests.pg"]  # the pg_url fixture: a fresh PostgreSQL database per test


@pytest.fixture(scope="session")
def mini() -> Topology:
    return load_topology(MINI)
