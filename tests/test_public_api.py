"""`import router` is the one public surface: cheap to import, every name in `__all__` real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import router
from router import errors

ROOT = Path(__file__).resolve().parents[1]


def test_every_public_name_resolves() -> None:
    missing = [name for name in router.__all__ if getattr(router, name, None) is None]
    assert missing == []
    assert sorted(router.__all__) == sorted(set(router.__all__))


def test_domain_types_users_touch_are_exported() -> None:
    users_touch = {
        "Topology", "Job", "Plan", "Placement", "Unplaced", "load_topology", "load_jobs",
        "default_topology", "plan_jobs", "Reservation", "RouteResult", "PlacementEvent",
        "RouterClient", "AsyncRouterClient", "InvalidInputError",
    }  # fmt: skip
    assert users_touch <= set(router.__all__)


def test_every_exported_error_is_in_the_tree() -> None:
    exported = [getattr(router, n) for n in router.__all__]
    raised = [e for e in exported if isinstance(e, type) and issubclass(e, BaseException)]
    assert len(raised) >= 7
    assert all(issubclass(e, errors.RouterError) for e in raised)


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        router.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("router.no_such_thing resolved")


def test_importing_router_loads_nothing_heavy() -> None:
    probe = (
        "import sys, router\n"
        "heavy = ('networkx', 'ortools', 'grpc', 'numpy', 'matplotlib', 'router.model')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
