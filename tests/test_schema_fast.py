"""The compiled fast schema check agrees with jsonschema on valid and broken input alike."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import fastjsonschema
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from router.model.schema import _fast_check, _validator
from tests.tools import REPO_ROOT

BASE = {
    "name": "train-1",
    "kind": "training",
    "origin": "shanghai",
    "max_latency_ms": 80,
    "accelerators": {"count": 8, "types": ["A800"], "min_memory_gb": 40, "hours_on": "A800"},
    "hours": 12,
    "data_gb": 500,
    "deadline_hours": 48,
    "allowed_zones": ["west"],
    "allowed_hubs": ["ningxia"],
    "denied_providers": [],
    "priority": 3,
    "precision": "fp16",
}
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 2000),
    st.floats(-10, 10, allow_nan=False),
    st.sampled_from(["", "A800", "Shanghai", "west", "fp8", "training", "a b", "x" * 3]),
    st.lists(st.sampled_from(["A800", "A800", "east", "cuda", "", 7]), max_size=3),
    st.just({}),
)
FIELDS = [*BASE, "bogus"]
ACC_FIELDS = ["count", "types", "stacks", "min_memory_gb", "hours_on", "extra"]


def is_valid(data: Any, name: str) -> bool:
    try:
        _fast_check(name)(data)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _agree(data: Any, name: str) -> None:
    slow_ok = not any(True for _ in _validator(name).iter_errors(data))
    assert is_valid(data, name) == slow_ok, data


@settings(max_examples=300, deadline=None)
@given(
    edits=st.lists(st.tuples(st.sampled_from(FIELDS), VALUES), max_size=3),
    acc_edits=st.lists(st.tuples(st.sampled_from(ACC_FIELDS), VALUES), max_size=2),
    drop=st.lists(st.sampled_from(FIELDS), max_size=2),
)
def test_fast_check_agrees_on_mutated_jobs(
    edits: list[tuple[str, Any]], acc_edits: list[tuple[str, Any]], drop: list[str]
) -> None:
    entry: dict[str, Any] = copy.deepcopy(BASE)
    for key, value in edits:
        entry[key] = value
    if isinstance(entry.get("accelerators"), dict):
        for key, value in acc_edits:
            entry["accelerators"][key] = value
    for key in drop:
        entry.pop(key, None)
    _agree({"jobs": [entry]}, "jobs")


def test_fast_check_agrees_on_shipped_files() -> None:
    files = sorted((REPO_ROOT / "examples" / "jobs").glob("*.yaml"))
    assert files
    for path in files:
        _agree(yaml.safe_load(Path(path).read_text()), "jobs")
    topology = yaml.safe_load((REPO_ROOT / "router" / "data" / "china-edwc.yaml").read_text())
    _agree(topology, "topology")
    broken = copy.deepcopy(topology)
    broken["sites"][0]["pools"][0]["count"] = -5
    _agree(broken, "topology")
    assert not is_valid(broken, "topology")
