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


def make_room(
    problem: Problem, pick: Ints, score: Floats, wanted: Ints, deadline: float = np.inf
) -> Ints:
    """Place the `wanted` unplaced items where nothing has room: for each (biggest first),
    try its options by `score` and move items out of the way, each to the option of its
    own with room that raises `score` least (an ejection chain of depth one). Items that
    still do not fit stay unplaced; nothing placed is ever dropped."""
    pick = pick.copy()
    free = problem.capacity - problem.usage(pick)
    ptr, use_ptr, use_res, use_amt = (
        problem.item_ptr,
        problem.use_ptr,
        problem.use_res,
        problem.use_amt,
    )
    holders = _holders(problem, pick)

    def take(option: int, sign: int) -> None:
        a, b = int(use_ptr[option]), int(use_ptr[option + 1])
        free[use_res[a:b]] -= sign * use_amt[a:b]

    def place(item: int, option: int) -> None:
        take(option, 1)
        pick[item] = option
        a, b = int(use_ptr[option]), int(use_ptr[option + 1])
        for r in use_res[a:b].tolist():
            holders.setdefault(r, set()).add(item)

    def lift(item: int) -> int:
        option = int(pick[item])
        take(option, -1)
        pick[item] = UNPLACED
        a, b = int(use_ptr[option]), int(use_ptr[option + 1])
        for r in use_res[a:b].tolist():
            holders[r].discard(item)
        return option

    def _move_rise(item: int) -> float:
        current = int(pick[item])
        target = _cheapest_fit(problem, item, score, free, exclude=current)
        return np.inf if target < 0 else float(score[target] - score[current])

    smallest = problem.item_min(_main_use(problem))
    for item in wanted[np.argsort(-smallest[wanted], kind="stable")].tolist():
        if now() > deadline:
            break
        lo, hi = int(ptr[item]), int(ptr[item + 1])
        for option in (lo + np.argsort(score[lo:hi], kind="stable")).tolist():
            a, b = int(use_ptr[option]), int(use_ptr[option + 1])
            short = use_res[a:b][free[use_res[a:b]] < use_amt[a:b]].tolist()
            moved: list[tuple[int, int]] = []
            take(option, 1)  # the wanted item's room stays reserved while others move
            for r in short:
                # Occupants of r, those whose move raises the score least first.
                occupants = sorted(holders.get(r, ()), key=lambda o: _move_rise(o))
                for other in occupants:
                    if free[r] >= 0:
                        break
                    target = _cheapest_fit(problem, other, score, free, exclude=int(pick[other]))
                    if target >= 0:
                        moved.append((other, lift(other)))
                        place(other, target)
            take(option, -1)
            if bool(np.all(free[use_res[a:b]] >= use_amt[a:b])):
                place(item, option)
                break
            for other, before in reversed(moved):  # undo: this option cannot be freed
                lift(other)
                place(other, before)
    return pick


def _cheapest_fit(problem: Problem, item: int, score: Floats, free: Ints, exclude: int) -> int:
    """The item's lowest-`score` option with room in `free` (not `exclude`), or -1."""
    lo, hi = int(problem.item_ptr[item]), int(problem.item_ptr[item + 1])
    fits = _fitting(problem.use_ptr[lo : hi + 1], problem.use_res, problem.use_amt, free)
    fits[exclude - lo] = False
    if not fits.any():
        return UNPLACED
    candidates = lo + np.flatnonzero(fits)
    return int(candidates[np.argmin(score[candidates])])


def _holders(problem: Problem, pick: Ints) -> dict[int, set[int]]:
    """Per resource, the placed items whose option uses it."""
    out: dict[int, set[int]] = {}
    for item in np.flatnonzero(pick >= 0).tolist():
        option = int(pick[item])
        a, b = int(problem.use_ptr[option]), int(problem.use_ptr[option + 1])
        for r in problem.use_res[a:b].tolist():
            out.setdefault(r, set()).add(item)
    return out


def _main_use(problem: Problem) -> Floats:
    """Each option's first use (its devices), 0 for an option using nothing."""
    main = np.zeros(problem.n_options)
    has_use = np.diff(problem.use_ptr) > 0
    main[has_use] = problem.use_amt[problem.use_ptr[:-1][has_use]]
    return main


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
    smallest = problem.item_min(_main_use(problem))[items]
    density = problem.value[items] / np.maximum(smallest, 1.0)
    required = problem.required[items]
    order = np.lexsort((smallest, np.where(required, -smallest, -density), ~required))
    return [int(i) for i in items[order]]
