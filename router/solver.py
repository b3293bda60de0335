"""The optimisation model only: integer candidates in, an assignment and a bound out.

The problem is a multi-resource generalised assignment with optional items:
every item picks at most one of its options; an option uses integer amounts of
shared resources (device pools, link bandwidth); no resource may be used beyond
its capacity. The objective is lexicographic: first maximise the total value of
the placed items (required items must be placed), then minimise total cost.
The solver never sees a float: values, costs, uses and capacities are integers.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    `status` is "optimal", "feasible" (a gap may remain) or "infeasible" (required
    items cannot all be placed).
    """

    choice: tuple[int | None, ...]
    value: int
    cost: int
    cost_bound: int
    status: str
    seconds: float


def solve(problem: Problem, time_limit_s: float = 10.0) -> Solution:
    """Solve `problem` within `time_limit_s` seconds of wall time."""
    raise NotImplementedError("solver implementation lands with the solver work")
