"""Integer assignments without a solver: LP rounding, greedy fill, cheaper moves.

A basic LP solution leaves only about one item per binding constraint fractional, so
keeping its integral part and filling the rest greedily (by the LP's priced costs) lands
close to it; single moves to cheaper options with room polish the result.
"""

from __future__ import annotations

import numpy as np

from router.solve.clock import now
from router.solve.problem import UNPLACED, Floats, Ints, Problem


def empty_pick(problem: Problem) -> Ints:
    return np.full(problem.n_items, UNPLACED, dtype=np.int64)


def round_lp(problem: Problem, x: Floats | None) -> Ints:
    """Each item's option where the LP put more than half of it, kept where it fits
    (surest first)."""
    pick = empty_pick(problem)
    if x is None:
        return pick
    surest = np.flatnonzero(x > 0.5)
    free = problem.capacity.copy()
    for option in surest[np.argsort(-x[surest], kind="stable")].tolist():
        a, b = int(problem.use_ptr[option]), int(problem.use_ptr[option + 1])
        res, amt = problem.use_res[a:b], problem.use_amt[a:b]
        if np.all(free[res] >= amt):
            free[res] -= amt
            pick[problem.option_item[option]] = option
    return pick


def fill(
    problem: Problem, pick: Ints, score: Floats | None = None, deadline: float = np.inf
) -> Ints:
    """Place unplaced items that fit, each at its lowest-`score` fitting option: required
    items first, then most value per unit of resource. Stops early at `deadline`."""
    pick = pick.copy()
    score = problem.cost.astype(np.float64) if score is None else score
    free = problem.capacity - problem.usage(pick)
    ptr, use_ptr, use_res, use_amt = (
        problem.item_ptr,
        problem.use_ptr,
        problem.use_res,
        problem.use_amt,
    )
    for n, item in enumerate(_fill_order(problem, pick)):
        if n % 256 == 0 and now() > deadline:
            break
        lo, hi = int(ptr[item]), int(ptr[item + 1])
        fits = _fitting(use_ptr[lo : hi + 1], use_res, use_amt, free)
        if not fits.any():
            continue
        candidates = lo + np.flatnonzero(fits)
        option = int(candidates[np.argmin(score[candidates])])
        a, b = int(use_ptr[option]), int(use_ptr[option + 1])
        free[use_res[a:b]] -= use_amt[a:b]
        pick[item] = option
    return pick


def improve(problem: Problem, pick: Ints, deadline: float) -> Ints:
    """Move placed items to their cheapest cheaper option with room, costliest first,
    pass after pass until none helps or time is up; never lowers the value."""
    pick = pick.copy()
    free = problem.capacity - problem.usage(pick)
    ptr, cost = problem.item_ptr, problem.cost
    use_ptr, use_res, use_amt = problem.use_ptr, problem.use_res, problem.use_amt
    cheapest = problem.item_min(cost.astype(np.float64))
    moved = True
    while moved and now() < deadline:
        moved = False
        placed = np.flatnonzero(pick >= 0)
        dear = placed[cost[pick[placed]] > cheapest[placed]]
        order = dear[np.argsort(-(cost[pick[dear]] - cheapest[dear]), kind="stable")]
        for n, item in enumerate(order.tolist()):
            if n % 128 == 0 and now() > deadline:
                break
            current = int(pick[item])
            a, b = int(use_ptr[current]), int(use_ptr[current + 1])
            free[use_res[a:b]] += use_amt[a:b]  # release, then look for a cheaper fit
            lo, hi = int(ptr[item]), int(ptr[item + 1])
            fits = _fitting(use_ptr[lo : hi + 1], use_res, use_amt, free)
            fits &= cost[lo:hi] < cost[current]
            target = current
            if fits.any():
                candidates = lo + np.flatnonzero(fits)
                target = int(candidates[np.argmin(cost[candidates])])
                moved = True
            a, b = int(use_ptr[target]), int(use_ptr[target + 1])
            free[use_res[a:b]] -= use_amt[a:b]
            pick[item] = target
    return pick


def _fitting(ptr: Ints, use_res: Ints, use_amt: Ints, free: Ints) -> np.ndarray:
    """For consecutive options with use pointers `ptr`: does each fit in `free` now?"""
    a0, a1 = int(ptr[0]), int(ptr[-1])
    fits = np.ones(len(ptr) - 1, dtype=np.bool_)
    if a1 == a0:
        return fits
    ok = free[use_res[a0:a1]] >= use_amt[a0:a1]
    nonempty = ptr[1:] > ptr[:-1]
    fits[nonempty] = np.logical_and.reduceat(ok, ptr[:-1][nonempty] - a0)
    return fits


def _fill_order(problem: Problem, pick: Ints) -> list[int]:
    """Unplaced items with options: required ones first, biggest first (they are the
    hardest to pack); then most value per unit of main resource (an option's first use,
    e.g. its devices), the knapsack order, which measured best on every family."""
    items = np.flatnonzero((pick < 0) & (np.diff(problem.item_ptr) > 0))
    if len(items) == 0:
        return []
    main = np.zeros(problem.n_options)
    has_use = np.diff(problem.use_ptr) > 0
    main[has_use] = problem.use_amt[problem.use_ptr[:-1][has_use]]
    smallest = problem.item_min(main)[items]
    density = problem.value[items] / np.maximum(smallest, 1.0)
    required = problem.required[items]
    order = np.lexsort((smallest, np.where(required, -smallest, -density), ~required))
    return [int(i) for i in items[order]]
