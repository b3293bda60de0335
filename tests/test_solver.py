"""The solver core: feasibility, lexicographic objective, bounds, brute-force agreement."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.errors import InvalidInputError
from router.solve.pipeline import Solution, solve
from router.solve.problem import build_problem


@dataclass(frozen=True)
class Option:
    """One way to place an item: its cost and (resource, amount) uses."""

    cost: int
    uses: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Item:
    value: int
    options: tuple[Option, ...]
    required: bool = False


@dataclass(frozen=True)
class Problem:
    """A readable problem for tests; `solve_items` turns it into the arrays."""

    items: tuple[Item, ...]
    capacities: tuple[int, ...]


def solve_items(problem: Problem, time_limit_s: float) -> Solution:
    arrays = build_problem(
        [(i.value, i.required, [(o.cost, o.uses) for o in i.options]) for i in problem.items],
        problem.capacities,
    )
    return solve(arrays, time_limit_s)


def choices(sol: Solution) -> tuple[int | None, ...]:
    return tuple(None if c < 0 else c for c in sol.choice.tolist())


def check_solution(problem: Problem, sol: Solution) -> None:
    """Recompute feasibility, value and cost independently of the solver."""
    assert len(sol.choice) == len(problem.items)
    used = [0] * len(problem.capacities)
    value = cost = 0
    for item, c in zip(problem.items, choices(sol), strict=True):
        if c is None:
            assert not item.required or sol.status in ("infeasible", "unknown")
            continue
        option = item.options[c]
        value += item.value
        cost += option.cost
        for r, amount in option.uses:
            used[r] += amount
    for r, cap in enumerate(problem.capacities):
        assert used[r] <= cap, f"resource {r} over capacity: {used[r]} > {cap}"
    assert (sol.value, sol.cost) == (value, cost)
    assert sol.cost_bound <= sol.cost


def brute_force(problem: Problem) -> tuple[int, int] | None:
    """The lexicographic optimum (max value, then min cost) by enumeration; None if infeasible."""
    best: tuple[int, int] | None = None
    ranges = [
        ([] if item.required else [None]) + list(range(len(item.options))) for item in problem.items
    ]
    for choice in itertools.product(*ranges):
        used = [0] * len(problem.capacities)
        value = cost = 0
        for item, c in zip(problem.items, choice, strict=True):
            if c is None:
                continue
            value += item.value
            cost += item.options[c].cost
            for r, amount in item.options[c].uses:
                used[r] += amount
        if any(u > cap for u, cap in zip(used, problem.capacities, strict=True)):
            continue
        if best is None or (value, -cost) > (best[0], -best[1]):
            best = (value, cost)
    return best


def opt(cost: int, *uses: tuple[int, int]) -> Option:
    return Option(cost, tuple(uses))


def test_more_value_beats_lower_cost() -> None:
    # Two items share pool 0 (capacity 2): the cheap option for A blocks B.
    a = Item(10, (opt(1, (0, 2)), opt(100, (1, 1))))
    b = Item(5, (opt(1, (0, 1)),))
    problem = Problem((a, b), (2, 1))
    sol = solve_items(problem, 5.0)
    check_solution(problem, sol)
    assert choices(sol) == (1, 0)
    assert (sol.value, sol.cost) == (15, 101)
    assert sol.status == "optimal"
    assert sol.cost_bound == 101


def test_value_first_even_when_many_cheap_items_lose() -> None:
    # One big job (value 100) vs three small ones (value 30 each) on one pool of 4.
    big = Item(100, (opt(1000, (0, 4)),))
    small = Item(30, (opt(1, (0, 2)),))
    problem = Problem((big, small, small, small), (4,))
    sol = solve_items(problem, 5.0)
    check_solution(problem, sol)
    assert sol.value == 100
    assert choices(sol) == (0, None, None, None)


def test_cost_breaks_ties_between_equal_value() -> None:
    item = Item(7, (opt(9, (0, 1)), opt(3, (1, 1)), opt(5, (2, 1))))
    problem = Problem((item, item), (1, 1, 1))
    sol = solve_items(problem, 5.0)
    check_solution(problem, sol)
    assert (sol.value, sol.cost) == (14, 8)
    assert sorted(c for c in choices(sol) if c is not None) == [1, 2]


def test_required_item_is_placed_even_at_value_loss() -> None:
    must = Item(0, (opt(50, (0, 3)),), required=True)
    nice = Item(100, (opt(1, (0, 2)),))
    problem = Problem((must, nice), (4,))
    sol = solve_items(problem, 5.0)
    check_solution(problem, sol)
    assert choices(sol) == (0, None)


def test_infeasible_required() -> None:
    must = Item(1, (opt(1, (0, 5)),), required=True)
    problem = Problem((must,), (4,))
    sol = solve_items(problem, 5.0)
    assert sol.status == "infeasible"
    assert choices(sol) == (None,)


def test_required_without_options_is_infeasible() -> None:
    problem = Problem((Item(1, (), required=True), Item(1, (opt(1, (0, 1)),))), (1,))
    assert solve_items(problem, 5.0).status == "infeasible"


def test_empty_problem() -> None:
    sol = solve_items(Problem((), ()), 1.0)
    outcome = (choices(sol), sol.value, sol.cost, sol.cost_bound, sol.status)
    assert outcome == ((), 0, 0, 0, "optimal")


def test_items_without_options_stay_unplaced() -> None:
    problem = Problem((Item(3, ()), Item(4, (opt(2, (0, 1)),))), (1,))
    sol = solve_items(problem, 5.0)
    check_solution(problem, sol)
    assert choices(sol) == (None, 0)


@pytest.mark.parametrize(
    ("problem", "field"),
    [
        (Problem((Item(-1, ()),), ()), "value[0]"),
        (Problem((Item(1, (opt(1, (3, 1)),)),), (1,)), "use_res[0]"),
        (Problem((Item(1, (opt(1, (0, -2)),)),), (1,)), "use_amt[0]"),
        (Problem((), (-4,)), "capacity[0]"),
    ],
)
def test_bad_input_names_the_field(problem: Problem, field: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        solve_items(problem, 1.0)
    assert err.value.problems[0].path == field


def test_does_not_mutate_input_and_is_deterministic() -> None:
    items = tuple(Item(3 + i % 2, (opt(5 - i % 3, (0, 1)), opt(4, (1, 2)))) for i in range(6))
    problem = Problem(items, (3, 4))
    before = repr(problem)
    first = solve_items(problem, 5.0)
    second = solve_items(problem, 5.0)
    assert repr(problem) == before
    assert choices(first) == choices(second)
    check_solution(problem, first)


def test_time_limit_is_roughly_honoured() -> None:
    # A GAP-like instance too big to prove quickly; the solver must return near the limit.
    items = tuple(
        Item(
            1,
            tuple(opt((i * 7 + a * 13) % 29 + 1, (a, (i * 5 + a * 3) % 9 + 3)) for a in range(8)),
            required=True,
        )
        for i in range(120)
    )
    problem = Problem(items, (60,) * 8)
    sol = solve_items(problem, 1.0)
    check_solution(problem, sol)
    assert sol.seconds < 10.0


options_st = st.lists(
    st.builds(
        Option,
        st.integers(-5, 30),
        st.lists(st.tuples(st.integers(0, 2), st.integers(0, 4)), max_size=2).map(tuple),
    ),
    max_size=3,
).map(tuple)
items_st = st.builds(Item, st.integers(0, 9), options_st, st.booleans())
problems_st = st.builds(
    Problem,
    st.lists(items_st, max_size=5).map(tuple),
    st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(0, 6)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems_st)
def test_matches_brute_force(problem: Problem) -> None:
    sol = solve_items(problem, 5.0)
    expected = brute_force(problem)
    if expected is None:
        assert sol.status == "infeasible"
        return
    check_solution(problem, sol)
    assert sol.status == "optimal"
    assert (sol.value, sol.cost) == expected
    assert sol.cost_bound <= expected[1]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(items_st, min_size=1, max_size=3), st.integers(1, 3))
def test_duplicated_items_match_brute_force(base: list[Item], copies: int) -> None:
    # Many identical items: symmetric models must still be solved exactly.
    problem = Problem(tuple(base * copies)[:6], (4, 5, 6))
    sol = solve_items(problem, 5.0)
    expected = brute_force(problem)
    if expected is None:
        assert sol.status == "infeasible"
        return
    check_solution(problem, sol)
    assert (sol.value, sol.cost) == expected
