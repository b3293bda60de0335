"""Bad scenario files: one line per problem naming file, line and field path; exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from router.cli.main import main
from tests.conftest import ROOT

JOBS = ROOT / "examples" / "jobs" / "east-west-mix.yaml"

SCENARIO = """\
name: test-scenario
changes:
  - site: [zhongwei, zhongwei-cmcc]
    status: down
  - zone: west
    price_factor: 1.2
  - link: {a: shanghai, b: guian}
    latency_ms: 30
  - pool: {site: huailai, accelerator: H800}
    count_factor: 0.5
  - job: {kind: training}
    demand_factor: 2
sweep: {change: 1, field: price_factor, from: 0.8, to: 1.2, steps: 3}
"""

NEW_SITE = """\
add_sites:
  - name: karamay
    hub: ningxia
    provider: newco
    lat: 45.6
    lon: 84.9
    pue: 1.1
    electricity_cny_per_kwh: 0.3
    carbon_g_per_kwh: 600
    pools:
      - {accelerator: A800, count: 64, price_cny_per_hour: 3.0}
add_links:
  - {a: beijing, b: karamay, latency_ms: 30, bandwidth_gbps: 400, price_cny_per_gb: 0.02}
"""

# (replace this text, with this, the expected line's field path and message)
MISTAKES = [
    (
        "status: down",
        "status: dead",
        'changes[0].status: must be one of: up, drain, down, got "dead"',
    ),
    (
        "price_factor: 1.2",
        "price_factor: -1",
        "changes[1].price_factor: must be a number > 0 and <= 1000, got -1",
    ),
    (
        "site: [zhongwei,",
        "site: [zhongwie,",
        "changes[0].site[0]: unknown site 'zhongwie'; did you mean 'zhongwei'?",
    ),
    ("zone: west", "zone: middle", 'changes[1].zone: must be one of: east, west, got "middle"'),
    (
        "kind: training",
        "kind: traning",
        "changes[4].job.kind: must be a job kind (training, finetune, inference, batch, hpc, "
        'realtime) or a list of kinds, got "traning"',
    ),
    (
        "latency_ms: 30",
        "latency: 30",
        "changes[2].latency: unknown field; did you mean 'latency_ms'?",
    ),
    (
        "demand_factor: 2",
        "price_factor: 2",
        "changes[4].price_factor: does not apply to a job selection (it can set: demand_factor)",
    ),
    (
        "    status: down\n",
        "    status: down\n    latency_ms: 3\n",
        "changes[0].latency_ms: does not apply to a site selection "
        "(it can set: status, price_factor, count_factor)",
    ),
    (
        "{a: shanghai, b: guian}",
        "{a: shanghai, b: beijing}",
        "changes[2].link: no link between 'shanghai' and 'beijing'",
    ),
    (
        "{a: shanghai, b: guian}",
        "{a: shanghai}",
        "changes[2].link.b: is required (the name of a region, site or exchange)",
    ),
    (
        "accelerator: H800}",
        "accelerator: H100}",
        "changes[3].pool: selects no pool: huailai has H800, A800, H20",
    ),
    (
        "accelerator: H800}",
        "accelerator: H80}",
        "changes[3].pool.accelerator: unknown accelerator type 'H80'; did you mean 'H800'?",
    ),
    (
        "  - zone: west\n",
        "  - zone: west\n    hub: gansu\n",
        "changes[1]: must select exactly one of: site, hub, zone, provider, pool, link, job "
        "(found hub, zone)",
    ),
    (
        "    price_factor: 1.2\n",
        "",
        "changes[1]: must set one of: status, price_factor, count_factor",
    ),
    (
        "  - job: {kind: training}",
        "  - job: pretrain-13x",
        "changes[4].job: unknown job 'pretrain-13x'; did you mean 'pretrain-13b'?",
    ),
    (
        "  - job: {kind: training}",
        "  - job: {origin: shangai}",
        "changes[4].job.origin: unknown region 'shangai'; did you mean 'shanghai'?",
    ),
    (
        "  - link: {a: shanghai, b: guian}\n    latency_ms: 30",
        "  - link: {a: shanghai, b: guian}\n    status: drain",
        "changes[2].status: a link is up or down, got 'drain'",
    ),
    ("change: 1,", "change: 7,", "sweep.change: must be the index of a change (0 to 4), got 7"),
    (
        "field: price_factor",
        "field: latency_ms",
        "sweep.field: latency_ms does not apply to changes[1], a zone selection "
        "(it can set: price_factor, count_factor)",
    ),
    ("steps: 3", "steps: 1", "sweep.steps: must be a whole number >= 2 and <= 101, got 1"),
    ("to: 1.2", "to: 0.8", "sweep.to: must differ from `from`"),
    (
        "name: test-scenario",
        'name: "bad name"',
        "name: must be a scenario name (letters, digits, '-', '_', '.', ':', '+', '@'), "
        'got "bad name"',
    ),
    ("name: test-scenario\n", "", "name: is required"),
    ("changes:", "chnages:", "chnages: unknown field; did you mean 'changes'?"),
    (
        "  - site: [zhongwei, zhongwei-cmcc]",
        "  - site: []",
        "changes[0].site: must list at least 1",
    ),
    ("status: down", "status: down\n    status: up", "changes[0].status: duplicate key"),
    ("sweep: {change: 1,", "sweep: {change: 1 field", "invalid YAML"),
]

# Mistakes in added sites and links are reported at the scenario's own paths.
ADDITION_MISTAKES = [
    ("hub: ningxia", "hub: xinjiang", "add_sites[0].hub: unknown hub 'xinjiang'"),
    (
        "count: 64,",
        "count: -64,",
        "add_sites[0].pools[0].count: must be a whole number >= 0, got -64",
    ),
    (
        "{a: beijing, b: karamay,",
        "{a: beijing, b: karamy,",
        "add_links[0].b: unknown place 'karamy'; did you mean 'karamay'?",
    ),
    (
        "  - name: karamay",
        "  - name: zhongwei",
        "add_sites[0].name: duplicate name 'zhongwei' (already used by sites[11])",
    ),
]


def _mutated(tmp_path: Path, text: str, old: str, new: str) -> tuple[Path, range]:
    """The changed file, and the lines the new text spans (empty when text was removed)."""
    assert old in text, f"test setup: {old!r} not in the scenario"
    changed = text.replace(old, new, 1)
    path = tmp_path / "scenario.yaml"
    path.write_text(changed)
    if not new:
        return path, range(0)
    first = changed.count("\n", 0, changed.index(new)) + 1
    return path, range(first, first + len(new.rstrip("\n").splitlines()))


def _errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(argv)
    return code, capsys.readouterr().err.strip().splitlines()


def _whatif(path: Path) -> list[str]:
    return ["whatif", "--jobs", str(JOBS), "--scenario", str(path), "--time-limit", "1"]


@pytest.mark.parametrize(("old", "new", "expected"), MISTAKES)
def test_bad_scenario_names_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, expected: str
) -> None:
    path, changed = _mutated(tmp_path, SCENARIO, old, new)
    code, lines = _errors(_whatif(path), capsys)
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: {path}:"), lines
    assert expected in lines[0], lines
    line = int(lines[0].removeprefix(f"error: {path}:").split(":")[0])
    if changed and "is required" not in expected:
        assert line in changed, f"line {line} is not where the mistake is ({changed})"


@pytest.mark.parametrize(("old", "new", "expected"), ADDITION_MISTAKES)
def test_bad_additions_point_into_the_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, expected: str
) -> None:
    path, changed = _mutated(tmp_path, "name: grow\n" + NEW_SITE, old, new)
    code, lines = _errors(_whatif(path), capsys)
    assert code == 2
    assert lines[0] == f"error: {path}:{changed[0]}: {expected}", lines


def test_the_example_additions_are_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = _mutated(tmp_path, "name: grow\n" + NEW_SITE, "name: grow", "name: grow")
    code, lines = _errors([*_whatif(path), "--json"], capsys)
    assert code == 0, lines


def test_every_problem_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = SCENARIO.replace("[zhongwei,", "[zhongwie,").replace("demand_factor: 2", "status: up")
    path, _ = _mutated(tmp_path, text, "name", "name")
    code, lines = _errors(_whatif(path), capsys)
    assert code == 2
    assert len(lines) == 2
    assert "changes[0].site[0]" in lines[0] and "changes[4].status" in lines[1]


def test_a_scenario_with_nothing_to_do_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("name: nothing\nchanges: []\n")
    code, lines = _errors(_whatif(path), capsys)
    assert code == 2
    assert lines == [
        f"error: {path}:2: changes: must list at least one change (or add_sites / add_links)"
    ]


def test_no_traceback_reaches_the_user(tmp_path: Path) -> None:
    path, _ = _mutated(tmp_path, SCENARIO, "price_factor: 1.2", "price_factor: lots")
    result = subprocess.run(
        [sys.executable, "-m", "router.cli", *_whatif(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert 'changes[1].price_factor: must be a number > 0 and <= 1000, got "lots"' in result.stderr


def test_scenario_names_must_be_unique_and_not_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second, third = (tmp_path / f"{k}.yaml" for k in "abc")
    first.write_text(SCENARIO)
    second.write_text("# the same name again\n" + SCENARIO)
    third.write_text(SCENARIO.replace("name: test-scenario", "name: baseline"))
    code, lines = _errors([*_whatif(first), "--scenario", str(second)], capsys)
    assert code == 2
    assert lines == [f"error: {second}:2: name: 'test-scenario' is also the name of {first}"]
    code, lines = _errors(_whatif(third), capsys)
    assert code == 2
    assert lines == [
        f"error: {third}:1: name: 'baseline' is the unchanged plan's name; choose another"
    ]
