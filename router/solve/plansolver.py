"""Which solver for a placement problem: the flow rounding always, the exact model when small.

The flow relaxation (router.solve.gangsolver) scales to national batches and reports its
gap. When it cannot prove its plan optimal and the model is small enough for CP-SAT
(router.solve.solver) to finish, the exact model gets the time that is left, and the better
plan wins: more placed value first, then less cost.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from router.solve.gangsolver import GangProblem, solve_gang
from router.solve.solver import Item, Option, Problem, Solution, solve

EXACT_OPTIONS = 40_000  # CP-SAT with one variable per option stays quick below this
FLOW_SHARE = 0.4  # of the time limit, when the exact model may follow


def optimise(problem: GangProblem, time_limit_s: float) -> Solution:
    """The best plan found within `time_limit_s`, and a lower bound on its cost."""
    start = time.monotonic()
    small = problem.n_options <= EXACT_OPTIONS
    flow = solve_gang(problem, time_limit_s * (FLOW_SHARE if small else 0.9))
    local = flow.choice - problem.option_ptr[:-1]
    best = Solution(
        tuple(int(c) if g >= 0 else None for c, g in zip(local, flow.choice, strict=True)),
        flow.value,
        flow.cost,
        flow.cost_bound,
        flow.status,
        0.0,
    )
    left = time_limit_s - (time.monotonic() - start)
    if small and flow.status != "optimal" and left > 0.05:
        best = _better(best, solve(as_problem(problem), left))
    return replace(best, seconds=time.monotonic() - start)


def _better(current: Solution, other: Solution) -> Solution:
    """The preferred of two plans, with the best bound that is valid for it.

    A bound covers plans placing at least the value it was computed for, so the other
    plan's bound also holds for the winner when that value is not above the winner's.
    """
    if other.status in ("unknown", "infeasible"):
        return current
    if (other.value, -other.cost) > (current.value, -current.cost):
        extra = current.cost_bound if current.value <= other.value else 0
        return replace(other, cost_bound=max(other.cost_bound, extra))
    extra = other.cost_bound if other.value <= current.value else 0
    # An exact run that proved its value maximal proves ours too (ours is not lower);
    # its bound then proves our cost optimal if we reach it.
    proven = other.status == "optimal" and current.cost <= extra
    return replace(
        current,
        cost_bound=max(current.cost_bound, extra),
        status="optimal" if proven else current.status,
    )


def as_problem(problem: GangProblem) -> Problem:
    """The same problem as items and options for the exact solver."""
    pools = len(problem.capacity)
    items = []
    for i in range(problem.n_items):
        size = int(problem.size[i])
        options = []
        for o in range(int(problem.option_ptr[i]), int(problem.option_ptr[i + 1])):
            lo, hi = int(problem.side_ptr[o]), int(problem.side_ptr[o + 1])
            side = tuple(
                (pools + int(r), int(a))
                for r, a in zip(problem.side_res[lo:hi], problem.side_amt[lo:hi], strict=True)
            )
            uses = ((int(problem.option_pool[o]), size), *side)
            options.append(Option(cost=int(problem.option_cost[o]), uses=uses))
        items.append(Item(value=int(problem.value[i]), options=tuple(options)))
    capacities = np.concatenate([problem.capacity, problem.side_capacity])
    return Problem(items=tuple(items), capacities=tuple(int(c) for c in capacities))
