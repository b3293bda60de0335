"""GAP files: parsing, errors, and the solver reaching published optima on small instances."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from router.bench.gap import format_gap_table, gap_results_to_json, load_reference, run_gap
from router.errors import InvalidInputError
from router.solve.gapfile import gap_problem, load_gap, parse_gap
from router.solve.pipeline import solve

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
GAP_DIR = SHARED / "benchmarks" / "gap"
REFERENCE = GAP_DIR / "reference.csv"
needs_shared = pytest.mark.skipif(
    not GAP_DIR.is_dir(), reason=f"GAP benchmark folder {GAP_DIR} is not present"
)

TINY = """2 3
 1 2 3
 4 5 6
 2 2 2
 1 1 1
 3 2
"""


def test_parse_single_instance() -> None:
    (inst,) = parse_gap(TINY, name="tiny")
    assert (inst.name, inst.agents, inst.items) == ("tiny", 2, 3)
    assert inst.cost == ((1, 2, 3), (4, 5, 6))
    assert inst.use == ((2, 2, 2), (1, 1, 1))
    assert inst.capacities == (3, 2)


def test_parse_count_line_then_instances() -> None:
    text = "2\n" + TINY + TINY.replace("3 2\n", "9 9\n")
    first, second = parse_gap(text, name="pair")
    assert (first.name, second.name) == ("pair-0", "pair-1")
    assert first.capacities == (3, 2) and second.capacities == (9, 9)


def test_gap_problem_solves_tiny_by_hand() -> None:
    # Agent 0 (capacity 3) takes one item at use 2; agent 1 (capacity 2) takes two.
    # Cheapest: item 0 on agent 0 (1), items 1 and 2 on agent 1 (5 + 6) = 12.
    (inst,) = parse_gap(TINY, name="tiny")
    problem = gap_problem(inst)
    assert problem.required.all()
    sol = solve(problem, 5.0)
    assert sol.status == "optimal"
    assert sol.cost == 12
    assert sol.choice.tolist() == [0, 1, 1]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("2 3\n1 2 x\n", "expected a whole number, got 'x'"),
        ("2 3\n1 2 3\n", "expected 14 numbers"),
        ("", "expected 'm n'"),
        (TINY + "7\n", "expected end of file after 1 instance(s), got 1 extra"),
        ("2\n" + TINY, "expected 'm n', got end of file"),
        ("0 3\n", "must be > 0"),
        ("0\n", "positive instance count"),
        (TINY.replace(" 3 2\n", " 3 -2\n"), ">= 0"),
    ],
)
def test_malformed_files_name_the_file_and_the_problem(
    tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "broken.txt"
    path.write_text(text)
    with pytest.raises(InvalidInputError) as err:
        load_gap(path)
    problem = err.value.problems[0]
    assert problem.file == str(path)
    assert needle in problem.message


def test_bad_number_reports_its_line(tmp_path: Path) -> None:
    path = tmp_path / "line.txt"
    path.write_text("2 3\n1 2 3\n4 five 6\n")
    with pytest.raises(InvalidInputError) as err:
        load_gap(path)
    assert err.value.problems[0].line == 3


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="cannot read GAP file"):
        load_gap(tmp_path / "nope")


def test_json_and_table_without_reference(tmp_path: Path) -> None:
    path = tmp_path / "tiny"
    path.write_text(TINY)
    results = run_gap([path], 5.0)
    rows = gap_results_to_json(results)
    assert json.loads(json.dumps(rows)) == rows
    assert rows[0]["objective"] == 12
    assert rows[0]["bound"] == 12
    assert rows[0]["status"] == "optimal"
    assert set(rows[0]) == {
        "instance",
        "agents",
        "items",
        "objective",
        "bound",
        "status",
        "seconds",
    }
    table = format_gap_table(results)
    assert "tiny" in table and "1 instance: 1 proven optimal" in table


@needs_shared
@pytest.mark.parametrize(
    "instance", ["cattrysse1994/gap1-0", "cattrysse1994/gap5-3", "chu1997/a05100"]
)
def test_small_instances_reach_their_published_optimum(instance: str) -> None:
    ref = load_reference(REFERENCE)[instance]
    (result,) = run_gap([GAP_DIR / instance], 10.0, REFERENCE)
    assert result.instance == instance
    assert result.optimum == ref.optimum
    assert result.objective == ref.optimum
    assert result.bound <= result.objective
    assert result.status == "optimal"
    row = gap_results_to_json([result])[0]
    assert row["best_known"] == ref.best_known and row["gap_pct"] == 0.0


@needs_shared
def test_solution_of_a_real_instance_is_feasible() -> None:
    (inst,) = load_gap(GAP_DIR / "chu1997" / "c05100")
    sol = solve(gap_problem(inst), 3.0)
    used = [0] * inst.agents
    cost = 0
    for j, agent in enumerate(sol.choice.tolist()):
        assert agent >= 0
        used[agent] += inst.use[agent][j]
        cost += inst.cost[agent][j]
    assert all(u <= c for u, c in zip(used, inst.capacities, strict=True))
    assert cost == sol.cost
    assert sol.cost_bound <= sol.cost


def test_reference_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "ref.csv"
    path.write_text("instance,optimum,best_known_value\nx,abc,3\n")
    with pytest.raises(InvalidInputError, match="integers"):
        load_reference(path)


def test_cli_bench_gap_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from router.cli.main import main

    path = tmp_path / "tiny"
    path.write_text(TINY)
    assert main(["bench", "gap", str(path), "--time-limit", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["instance"], r["objective"], r["status"]) for r in rows] == [("tiny", 12, "optimal")]


def test_cli_bench_gap_bad_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from router.cli.main import main

    path = tmp_path / "bad"
    path.write_text("2 3\n1 2\n")
    assert main(["bench", "gap", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "expected 14 numbers" in err


@needs_shared
def test_cli_bench_gap_table_with_reference(capsys: pytest.CaptureFixture[str]) -> None:
    from router.cli.main import main

    path = GAP_DIR / "cattrysse1994" / "gap1-0"
    assert main(["bench", "gap", str(path), "--reference", str(REFERENCE)]) == 0
    out = capsys.readouterr().out
    assert "cattrysse1994/gap1-0" in out and "261" in out and "1/1 at best known" in out
