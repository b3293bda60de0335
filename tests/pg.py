"""A fresh PostgreSQL database per test, on the cluster named by WESTWARD_TEST_PG.

Start one with `eval "$(scripts/pg-test-cluster start)"`. Without it the PostgreSQL tests
skip locally and fail in CI (CI=true), where `.ci/run` always starts one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

ENV = "WESTWARD_TEST_PG"
START = 'eval "$(scripts/pg-test-cluster start)"'


def server_url() -> str:
    """The test cluster's URL; skips the test locally (fails it in CI) when none is set."""
    url = os.environ.get(ENV, "")
    if url:
        return url
    message = f"{ENV} is not set: start a throw-away PostgreSQL with {START}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    base = server_url()
    name = f"westward_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}".encode())
    params = conninfo_to_dict(base)
    url = "postgresql://{user}@{host}:{port}/".format(**params) + name
    try:
        yield url
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())
