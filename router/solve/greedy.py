"""Integer assignments from an LP solution (round down, then greedily place the rest).

Rounding a basic LP solution down keeps it feasible and leaves at most about one
fractional group per binding constraint; the greedy pass then places leftover items,
required groups first, then by value per unit of resource, each into the cheapest
option (by `score`) that still fits.
"""

from __future__ import annotations

import time

import numpy as np

from router.solve.flat import Flat, FloatArray, IntArray


def round_down(flat: Flat, x: FloatArray | None) -> IntArray:
    """Floor of an LP solution, repaired so counts and capacities hold exactly."""
    if x is None:
        return np.zeros(flat.n_options, dtype=np.int64)
    y = np.floor(x + 1e-6).astype(np.int64)
    y = np.clip(y, 0, flat.count[flat.option_group])
    # Per group, never more than its count (float noise): trim from the last options.
    placed = np.bincount(flat.option_group, weights=y, minlength=flat.n_groups).astype(np.int64)
    for g in np.flatnonzero(placed > flat.count):
        excess = int(placed[g] - flat.count[g])
        for k in range(int(flat.group_ptr[g + 1]) - 1, int(flat.group_ptr[g]) - 1, -1):
            take = min(excess, int(y[k]))
            y[k] -= take
            excess -= take
    # Capacities: drop units from options on over-full resources.
    used = flat.usage(y)
    if (used > flat.capacity).any():
        uo = flat.use_option()
        for r in np.flatnonzero(used > flat.capacity):
            for k in uo[flat.use_res == r]:
                a, b = int(flat.use_ptr[k]), int(flat.use_ptr[k + 1])
                while y[k] > 0 and used[r] > flat.capacity[r]:
                    y[k] -= 1
                    used[flat.use_res[a:b]] -= flat.use_amt[a:b]
    return y


def fill(
    flat: Flat, y: IntArray, score: FloatArray | None = None, deadline: float | None = None
) -> IntArray:
    """Place every still-unplaced item that fits, into its lowest-`score` fitting option.

    Stops early (returning what it placed so far) at `deadline` (time.monotonic()).
    """
    y = y.copy()
    score = flat.cost.astype(np.float64) if score is None else score
    free = flat.capacity - flat.usage(y)
    placed = np.bincount(flat.option_group, weights=y, minlength=flat.n_groups).astype(np.int64)
    left = flat.count - placed
    use_ptr, use_res, use_amt = flat.use_ptr, flat.use_res, flat.use_amt
    for n, g in enumerate(_fill_order(flat, left)):
        if deadline is not None and n % 256 == 0 and time.monotonic() > deadline:
            break
        lo, hi = int(flat.group_ptr[g]), int(flat.group_ptr[g + 1])
        need = int(left[g])
        fits = _fits(use_ptr[lo : hi + 1], use_res, use_amt, free, need)
        candidates = np.flatnonzero(fits > 0)
        if len(candidates) == 0:
            continue  # nothing fits: the common case for items left out
        for k in lo + candidates[np.argsort(score[lo + candidates], kind="stable")]:
            a, b = int(use_ptr[k]), int(use_ptr[k + 1])
            res, amt = use_res[a:b], use_amt[a:b]
            fit = need if b == a else min(need, int((free[res] // amt).min()))
            if fit <= 0:
                continue
            y[k] += fit
            free[res] -= amt * fit
            need -= fit
            if need == 0:
                break
    return y


def _fits(
    ptr: IntArray, use_res: IntArray, use_amt: IntArray, free: IntArray, need: int
) -> IntArray:
    """For consecutive options with use pointers `ptr`, how many units each could take now."""
    a0, a1 = int(ptr[0]), int(ptr[-1])
    fits = np.full(len(ptr) - 1, need, dtype=np.int64)
    if a1 == a0:
        return fits
    per_use = free[use_res[a0:a1]] // use_amt[a0:a1]
    nonempty = ptr[1:] > ptr[:-1]
    fits[nonempty] = np.minimum(need, np.minimum.reduceat(per_use, ptr[:-1][nonempty] - a0))
    return fits


def _fill_order(flat: Flat, left: IntArray) -> list[int]:
    """Groups with items left: required first, then most value per unit of resource used."""
    groups = np.flatnonzero((left > 0) & (np.diff(flat.group_ptr) > 0))
    if len(groups) == 0:
        return []
    amount = np.zeros(flat.n_options)
    np.add.at(amount, flat.use_option(), flat.use_amt.astype(np.float64))
    smallest = flat.group_min(amount)[groups]
    density = flat.value[groups] / np.maximum(smallest, 1.0)
    order = np.lexsort((smallest, -density, ~flat.required[groups]))
    return [int(g) for g in groups[order]]


def improve(flat: Flat, y: IntArray, deadline: float) -> IntArray:
    """Move placed items to cheaper options of their group while capacity is free.

    Repeats whole passes until none helps or time is up; never lowers the value.
    """
    y = y.copy()
    free = flat.capacity - flat.usage(y)
    use_ptr, use_res, use_amt, cost = flat.use_ptr, flat.use_res, flat.use_amt, flat.cost
    improved = True
    while improved and time.monotonic() < deadline:
        improved = False
        for g in np.unique(flat.option_group[y > 0]):
            lo, hi = int(flat.group_ptr[g]), int(flat.group_ptr[g + 1])
            order = lo + np.argsort(cost[lo:hi], kind="stable")
            for k in order[::-1]:  # most expensive placed option first
                while y[k] > 0:
                    target = _cheaper_fit(order, k, cost, free, use_ptr, use_res, use_amt)
                    if target < 0:
                        break
                    a, b = int(use_ptr[k]), int(use_ptr[k + 1])
                    free[use_res[a:b]] += use_amt[a:b]
                    a, b = int(use_ptr[target]), int(use_ptr[target + 1])
                    free[use_res[a:b]] -= use_amt[a:b]
                    y[k] -= 1
                    y[target] += 1
                    improved = True
            if time.monotonic() >= deadline:
                break
    return y


def _cheaper_fit(
    order: IntArray,
    k: int,
    cost: IntArray,
    free: IntArray,
    use_ptr: IntArray,
    use_res: IntArray,
    use_amt: IntArray,
) -> int:
    """The cheapest option in `order` cheaper than k that fits in `free` (with k's own use
    released), or -1."""
    a, b = int(use_ptr[k]), int(use_ptr[k + 1])
    released = dict(zip(use_res[a:b].tolist(), use_amt[a:b].tolist(), strict=True))
    for t in order:
        if cost[t] >= cost[k]:
            return -1
        c, d = int(use_ptr[t]), int(use_ptr[t + 1])
        if all(
            free[r] + released.get(int(r), 0) >= amt
            for r, amt in zip(use_res[c:d], use_amt[c:d], strict=True)
        ):
            return int(t)
    return -1
