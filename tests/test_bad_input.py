"""Bad topology and job files: one line each, naming file, line and field path; exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from router.cli.main import main
from tests.conftest import MINI

JOBS = """\
jobs:
  - name: train
    kind: training
    origin: shanghai
    max_latency_ms: 100
    accelerators: {count: 16, types: [A800]}
    hours: 10
  - name: serve
    kind: inference
    origin: shanghai
    max_latency_ms: 20
    accelerators: {count: 2, stacks: [cuda], hours_on: A800}
    hours: 1
"""

# (what is changed, replace this text, with this, expected field path and message part)
TOPOLOGY_MISTAKES = [
    (
        "{accelerator: A800, count: 16,",
        "{accelerator: A800, count: -5,",
        "sites[0].pools[0].count: must be a whole number >= 0, got -5",
    ),
    (
        "{accelerator: A800, count: 16,",
        "{accelerator: A800, count: 2.5,",
        "sites[0].pools[0].count: must be a whole number >= 0, got 2.5",
    ),
    ("    pue: 1.15\n", "", "sites[1].pue: is required (a number >= 1)"),
    (
        "{accelerator: H20, count: 8",
        "{accelerator: H2O, count: 8",
        "sites[0].pools[1].accelerator: unknown accelerator type 'H2O'; did you mean 'H20'?",
    ),
    (
        "  - name: zhongwei\n",
        "  - name: qingpu\n",
        "sites[1].name: duplicate name 'qingpu' (already used by sites[0])",
    ),
    (
        "{a: shanghai, b: zhongwei,",
        "{a: shanghai, b: zhongwie,",
        "links[1].b: unknown place 'zhongwie'; did you mean 'zhongwei'?",
    ),
    (
        "    hub: ningxia\n",
        "    hub: ningxa\n",
        "sites[1].hub: unknown hub 'ningxa'; did you mean 'ningxia'?",
    ),
    (
        "title: Ningxia, zone: west}",
        "title: Ningxia, zone: middle}",
        'hubs[1].zone: must be one of: east, west, got "middle"',
    ),
    (
        "b: qingpu, latency_ms: 2,",
        "b: qingpu, latency_ms: -2,",
        "links[0].latency_ms: must be a number > 0, got -2",
    ),
    (
        "{accelerator: A800, count: 32,",
        "{accelerator: A800, cuont: 32,",
        "sites[1].pools[0].cuont: unknown field; did you mean 'count'?",
    ),
    (
        "regions:\n",
        "regions:\n  - {name: lhasa, hub: ningxia, lat: 29.6, lon: 91.1}\n",
        "regions[0]: region 'lhasa' is disconnected: no links lead to any site",
    ),
    ("version: 1", "version: 2", "version: must be 1, got 2"),
    (
        "    pools:\n      - {accelerator: A800, count: 16",
        "    pools:\n      - {accelerator: A800 count: 16",
        "invalid YAML",
    ),
    (
        "     tflops: {fp16: 280}}",
        "     tflops: {}}",
        "accelerators[2].tflops: must give at least one of: fp16, fp32, fp64, int8",
    ),
    (
        "memory_gb: 64, tdp_kw: 0.4, training: true,",
        "memory_gb: 64, tdp_kw: 0.4, training: maybe,",
        'accelerators[2].training: must be true or false, got "maybe"',
    ),
    (
        "  - {name: shanghai, hub: yangtze-delta,",
        "  - {name: zhongwei, hub: yangtze-delta,",
        "sites[1].name: duplicate name 'zhongwei' (already used by regions[0])",
    ),
    (
        "    provider: ctyun\n",
        "    provider: ctyun\n    status: broken\n",
        'sites[0].status: must be one of: up, drain, down, got "broken"',
    ),
    (
        "{a: shanghai, b: qingpu,",
        "{a: qingpu, b: qingpu,",
        "links[0].b: a link must join two different places",
    ),
    (
        "    provider: ctyun\n",
        "    provider: ctyun\n    provider: alibaba\n",
        "sites[0].provider: duplicate key",
    ),
    (
        "    lat: 37.5\n",
        "    lat: 137.5\n",
        "sites[1].lat: must be a number >= -90 and <= 90, got 137.5",
    ),
    (
        "    electricity_cny_per_kwh: 0.7\n",
        "    electricity_cny_per_kwh: cheap\n",
        'sites[0].electricity_cny_per_kwh: must be a number >= 0, got "cheap"',
    ),
    (
        "{a: shanghai, b: zhongwei, latency_ms: 14, bandwidth_gbps: 100",
        "{a: shanghai, b: qingpu, latency_ms: 14, bandwidth_gbps: 100",
        "links[1]: duplicate link (same places as links[0])",
    ),
]

JOB_MISTAKES = [
    (
        "{count: 16, types: [A800]}",
        "{count: 0, types: [A800]}",
        "jobs[0].accelerators.count: must be a whole number >= 1 and <= 1000000, got 0",
    ),
    (
        "    origin: shanghai\n    max_latency_ms: 100",
        "    origin: shanghia\n    max_latency_ms: 100",
        "jobs[0].origin: unknown region 'shanghia'; did you mean 'shanghai'?",
    ),
    (
        "types: [A800]}",
        "types: [A880]}",
        "jobs[0].accelerators.types[0]: unknown accelerator type 'A880'; did you mean 'A800'?",
    ),
    (
        "stacks: [cuda], hours_on: A800}",
        "stacks: [cuda]}",
        "jobs[1].accelerators.hours_on: is required when only stacks are given",
    ),
    (
        "{count: 16, types: [A800]}",
        "{count: 16}",
        "jobs[0].accelerators: must give types or stacks",
    ),
    (
        "    kind: training",
        "    kind: traning",
        "jobs[0].kind: must be one of: training, finetune, inference, batch, hpc, realtime, "
        'got "traning"',
    ),
    (
        "  - name: serve",
        "  - name: train",
        "jobs[1].name: duplicate job name (already used by jobs[0])",
    ),
    (
        "    kind: training",
        "    kind: training\n    accelerators: {count: 1, types: [Ascend910B]}\n",
        "jobs[0].accelerators: duplicate key",
    ),
    (
        "{count: 16, types: [A800]}",
        "{count: 16, types: [Ascend910B]}\n    precision: fp64",
        "jobs[0].precision: the reference type Ascend910B has no fp64 figure",
    ),
    ("    hours: 10", "    hours: -1", "jobs[0].hours: must be a number > 0 and <= 87600, got -1"),
    (
        "    hours: 10",
        "    hours: 10\n    priority: 0",
        "jobs[0].priority: must be a whole number >= 1 and <= 1000, got 0",
    ),
    (
        "    hours: 10",
        "    hours: 10\n    allowed_hubs: [ningxai]",
        "jobs[0].allowed_hubs[0]: unknown hub 'ningxai'; did you mean 'ningxia'?",
    ),
    (
        "    hours: 10",
        "    hours: 10\n    allowed_zones: [north]",
        'jobs[0].allowed_zones[0]: must be one of: east, west, got "north"',
    ),
    ("stacks: [cuda]", "stacks: [rocm]", "jobs[1].accelerators.stacks[0]: unknown stack 'rocm'"),
    ("jobs:\n", "job:\n", "job: unknown field; did you mean 'jobs'?"),
]


def _mutated(tmp_path: Path, name: str, text: str, old: str, new: str) -> tuple[Path, int]:
    assert old in text, f"test setup: {old!r} not in the file"
    changed = text.replace(old, new, 1)
    target = tmp_path / name
    target.write_text(changed)
    before = changed.index(new) if new else changed.index(text[text.index(old) + len(old) :][:20])
    return target, changed.count("\n", 0, before) + 1


def _assert_one_line_each(err: str, path: Path, expected: str) -> None:
    """Each problem is one line naming the file and line; the expected one is first."""
    lines = err.strip().splitlines()
    assert lines, "no error printed"
    assert all(line.startswith(f"error: {path}:") for line in lines), err
    assert expected in lines[0], err


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("old", "new", "expected"), TOPOLOGY_MISTAKES)
def test_bad_topology_names_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, expected: str
) -> None:
    path, _ = _mutated(tmp_path, "bad.yaml", MINI.read_text(), old, new)
    code, err = _run(["topology", "validate", str(path)], capsys)
    assert code == 2
    _assert_one_line_each(err, path, expected)
    assert "Traceback" not in err


@pytest.mark.parametrize(("old", "new", "expected"), JOB_MISTAKES)
def test_bad_jobs_name_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, expected: str
) -> None:
    path, _ = _mutated(tmp_path, "jobs.yaml", JOBS, old, new)
    code, err = _run(["plan", "--jobs", str(path), "--topology", str(MINI)], capsys)
    assert code == 2
    _assert_one_line_each(err, path, expected)


def test_error_line_points_at_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = MINI.read_text()
    path, line = _mutated(
        tmp_path, "bad.yaml", text, "{accelerator: H20, count: 8,", "{accelerator: H20, count: -8,"
    )
    _, err = _run(["topology", "validate", str(path)], capsys)
    assert err.startswith(f"error: {path}:{line}: sites[0].pools[1].count:"), err


def test_missing_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["topology", "validate", str(tmp_path / "nope.yaml")], capsys)
    assert code == 2
    assert "nope.yaml: cannot read file" in err


def test_every_problem_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = MINI.read_text().replace("count: 16,", "count: -1,").replace("count: 32,", "count: -2,")
    path = tmp_path / "two.yaml"
    path.write_text(text)
    code, err = _run(["topology", "validate", str(path)], capsys)
    assert code == 2
    assert "sites[0].pools[0].count" in err and "sites[1].pools[0].count" in err


def test_no_traceback_reaches_the_user(tmp_path: Path) -> None:
    bad = tmp_path / "jobs.yaml"
    bad.write_text(JOBS.replace("count: 16", "count: many"))
    result = subprocess.run(
        [sys.executable, "-m", "router.cli", "plan", "--jobs", str(bad), "--topology", str(MINI)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert (
        'jobs[0].accelerators.count: must be a whole number >= 1 and <= 1000000, got "many"'
        in result.stderr
    )


YAML_MISTAKES = [
    # A key indented under a line that already has a value.
    ("jobs:\n  - name: a\n    kind: training\n      origin: shanghai\n", 4, 13, "a `key:` where"),
    # An entry's key indented less than its siblings.
    ("jobs:\n  - name: a\n    kind: training\n   origin: shanghai\n", 4, 4, "indented differently"),
    ("jobs:\n\t- name: a\n", 2, 1, "indent with spaces"),
    ("jobs:\n  - name: 'a\n    kind: training\n", 2, 11, "a quote that is never closed"),
    ("jobs:\n  - {name: a, kind: training\n", 2, 5, "not closed with `}`"),
]


@pytest.mark.parametrize(("text", "line", "column", "hint"), YAML_MISTAKES)
def test_yaml_syntax_errors_give_line_column_and_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, line: int, column: int, hint: str
) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(text)
    assert main(["jobs", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}:{line}:{column}: invalid YAML: "), err
    assert hint in err and err.count("\n") == 1
