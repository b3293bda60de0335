"""Polish: the cheapest placing of exactly the items a plan already places.

Value comes first, so the search before this one chooses WHICH items to place, often
on expensive options. Here the placed set is fixed (each of its items required, the
others left out): its own min-cost LP guides large neighbourhood search over just those
items on all their options, so capacity freed by moving one item is used by another.
Never returns a plan worse than its input (same items, cost no higher).
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from router.solve.neighbourhood import lns
from router.solve.problem import Ints, Problem, inverse, translate
from router.solve.relax import min_cost_lp

LP_SHARE = 0.3  # of the time left, at most, for the placed items' LP


def polish(problem: Problem, pick: Ints, deadline: float, seed: int = 0) -> Ints:
    """A plan placing the same items as the feasible `pick` at no higher cost."""
    items = np.flatnonzero(pick >= 0)
    if len(items) == 0 or time.monotonic() >= deadline:
        return pick
    every = np.ones(problem.n_options, dtype=np.bool_)
    placed, index = problem.restrict(every, items=items)
    placed = replace(placed, required=np.ones(placed.n_items, dtype=np.bool_))
    now = time.monotonic()
    lp = min_cost_lp(placed, 0, now + LP_SHARE * (deadline - now))
    start = translate(pick[items], inverse(index, problem.n_options))
    found = lns(placed, start, lp.x, deadline, seed)
    if not placed.feasible(found) or placed.cost_of(found) >= placed.cost_of(start):
        return pick
    out = pick.copy()
    out[items] = translate(found, index)
    return out
