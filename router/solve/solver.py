"""The optimisation model only: integer candidates in, an assignment and a bound out.

The problem is a multi-resource generalised assignment with optional items:
every item picks at most one of its options; an option uses integer amounts of
shared resources (device pools, link bandwidth); no resource may be used beyond
its capacity. The objective is lexicographic: first maximise the total value of
the placed items (required items must be placed), then minimise total cost.
The solver never sees a float: values, costs, uses and capacities are integers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from router.solve.flat import build_flat
from router.solve.grouping import expand_flat, group_items
from router.solve.optimise import optimise
from router.solve.problem_check import check_problem


@dataclass(frozen=True, slots=True)
class Option:
    """One way to place an item: its integer cost and the resources it uses."""

    cost: int
    uses: tuple[tuple[int, int], ...]  # (resource index, amount)


@dataclass(frozen=True, slots=True)
class Item:
    """Something to place: its value when placed, and its feasible options."""

    value: int
    options: tuple[Option, ...]
    required: bool = False


@dataclass(frozen=True, slots=True)
class Problem:
    """Items competing for resources of the given capacities."""

    items: tuple[Item, ...]
    capacities: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Solution:
    """The best assignment found, what it is worth, and how far from optimal it can be.

    `choice[i]` is the index into `items[i].options`, or None when item i is not placed.
    `cost_bound` is a lower bound on the cost of any assignment placing value >= `value`.
    `status` is "optimal", "feasible" (a gap may remain), "infeasible" (required
    items cannot all be placed) or "unknown" (no assignment found in time; nothing placed).
    """

    choice: tuple[int | None, ...]
    value: int
    cost: int
    cost_bound: int
    status: str
    seconds: float


def solve(problem: Problem, time_limit_s: float = 10.0) -> Solution:
    """Solve `problem` within `time_limit_s` seconds of wall time.

    Raises InvalidInputError for negative values, amounts or capacities, or a resource
    index out of range.
    """
    start = time.monotonic()
    check_problem(problem)
    # Leave room to expand the answer and for phases that overrun their share a little.
    deadline = start + max(0.0, time_limit_s) * 0.92 - 0.05
    groups = group_items(problem.items)
    flat = build_flat(groups, problem.capacities)
    outcome = optimise(flat, deadline)
    if outcome.infeasible or outcome.y is None:
        status = "infeasible" if outcome.infeasible else "unknown"
        return _empty(problem, status, time.monotonic() - start)
    choice = expand_flat(groups, flat, outcome.y, len(problem.items))
    value, cost = evaluate(problem, choice)
    bound = min(outcome.cost_bound, cost)
    optimal = outcome.value_optimal and outcome.cost_optimal
    status = "optimal" if optimal else "feasible"
    return Solution(choice, value, cost, bound, status, time.monotonic() - start)


def evaluate(problem: Problem, choice: Sequence[int | None]) -> tuple[int, int]:
    """The (value, cost) of an assignment; does not check feasibility."""
    value = cost = 0
    for item, c in zip(problem.items, choice, strict=True):
        if c is not None:
            value += item.value
            cost += item.options[c].cost
    return value, cost


def _empty(problem: Problem, status: str, seconds: float) -> Solution:
    return Solution((None,) * len(problem.items), 0, 0, 0, status, seconds)
