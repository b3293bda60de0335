"""Polish: the cheapest placing of exactly the items a plan already places.

Value comes first, so the search before this one chooses WHICH items to place, often
on expensive options. Here the placed set is fixed (each of its items required, the
others left out) and its own min-cost LP guides the search over just those items:
pairwise exchanges (fast, from any start) and two-pool ones (each pair of pools a dear
item links divided again exactly), then the LP rounded with room made (a far
better start when it places every item; an exact repair of the one to six items it may
leave out was measured: it never succeeded on 16 workloads and cost 0.1 s), then
CP-SAT on the options the LP uses, the plan's own and each item's best by reduced
cost, hinted with the best start, and large neighbourhood search with what time is left.
Never returns a plan worse than its input (the same items, cost no higher).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from router.solve.clock import now, share
from router.solve.construct import biggest_first, exchange, fill, round_lp, squeeze_in, swap
from router.solve.cpsat import solve_cpsat
from router.solve.neighbourhood import lns
from router.solve.problem import Ints, Problem, inverse, translate
from router.solve.relax import Prices, min_cost_lp, reduced_costs

LP_SHARE = 0.3  # of the time left, at most, for the placed items' LP
CP_SAT_SHARE = 0.85  # of the time then left, for CP-SAT on the restricted model
EXCHANGE_SHARE = 0.3  # of the time left, at most, for two-pool exchanges after them
SWAP_SHARE = 0.3  # of the time left, at most, for exchanges before CP-SAT
BEST_PER_ITEM = 1  # options per item kept by reduced cost for CP-SAT (measured best)


def polish(problem: Problem, pick: Ints, deadline: float, seed: int = 0) -> Ints:
    """A plan placing the same items as the feasible `pick` at no higher cost."""
    items = np.flatnonzero(pick >= 0)
    if len(items) == 0 or now() >= deadline:
        return pick
    every = np.ones(problem.n_options, dtype=np.bool_)
    placed, index = problem.restrict(every, items=items)
    placed = replace(placed, required=np.ones(placed.n_items, dtype=np.bool_))
    current = translate(pick[items], inverse(index, problem.n_options))
    lp = min_cost_lp(placed, 0, share(deadline, LP_SHARE))
    current = swap(placed, current, share(deadline, SWAP_SHARE))
    current = exchange(placed, current, share(deadline, EXCHANGE_SHARE))
    if lp.x is not None:
        current = _rounded(placed, current, lp, deadline)
        current = _restricted_cpsat(placed, current, lp, share(deadline, CP_SAT_SHARE), seed)
    current = lns(placed, current, lp.x, deadline, seed)
    if not placed.feasible(current) or placed.cost_of(current) >= problem.cost_of(pick):
        return pick
    out = pick.copy()
    out[items] = translate(current, index)
    return out


def _rounded(placed: Problem, current: Ints, lp: Prices, deadline: float) -> Ints:
    """The LP rounded, its leftovers placed by priced cost, making room where needed: a
    far better start for CP-SAT than the plan when it is whole and cheaper (only then)."""
    score = reduced_costs(placed, lp, 0.0)
    rounded = fill(placed, round_lp(placed, lp.x), score, deadline)
    left_out = biggest_first(placed, np.flatnonzero(rounded < 0))
    rounded = squeeze_in(placed, rounded, score, left_out, deadline)
    if np.any(rounded < 0) or placed.cost_of(rounded) >= placed.cost_of(current):
        return current
    return rounded


def _restricted_cpsat(
    placed: Problem, current: Ints, lp: Prices, deadline: float, seed: int
) -> Ints:
    """CP-SAT over the LP's support, the plan's options and each item's best by reduced
    cost, hinted with the plan; the plan itself if nothing cheaper is found."""
    keep = placed.ranked(reduced_costs(placed, lp, 0.0)) < BEST_PER_ITEM
    if lp.x is not None:
        keep |= lp.x > 1e-6
    keep[current] = True
    sub, index = placed.restrict(keep)
    hint = translate(current, inverse(index, placed.n_options))
    found = solve_cpsat(sub, deadline, hint=hint, value_upper=sub.value_of(hint), seed=seed)
    if found.pick is None or sub.cost_of(found.pick) >= sub.cost_of(hint):
        return current
    return translate(found.pick, index)
