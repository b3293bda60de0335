"""Integer assignments without a solver: LP rounding, greedy fill, cheaper moves.

A basic LP solution leaves only about one item per binding constraint fractional, so
keeping its integral part and filling the rest greedily (by the LP's priced costs) lands
close to it; single moves to cheaper options with room polish the result.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from router.solve.clock import now
from router.solve.problem import UNPLACED, Bools, Floats, Ints, Problem, grouped

SAFE_ROOM = 2**62  # stands for "room enough" on the resource being decided
NOTHING = np.empty(0, dtype=np.int64)


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
    for n, item in enumerate(_fill_order(problem, pick)):
        if n % 256 == 0 and now() > deadline:
            break
        option = _cheapest_fit(problem, item, score, free)
        if option < 0:
            continue
        _take(problem, free, option, 1)
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


def swap(problem: Problem, pick: Ints, deadline: float, targets: int = 4) -> Ints:
    """Pairwise exchanges that lower the cost: item i moves to a cheaper option on pool Q
    while an item j on Q moves to i's pool, when both then fit (costliest items first,
    their `targets` cheapest cheaper options); then single moves again; pass after pass
    until none helps or time is up. Options using more than one resource (deadline jobs'
    links) take no part. Never lowers the value."""
    pick = improve(problem, pick, deadline)
    single, main, size, on_pool = _single_uses(problem)
    cost = problem.cost
    free = problem.capacity - problem.usage(pick)
    swapped = True
    while swapped and now() < deadline:
        swapped = False
        placed = np.flatnonzero(pick >= 0)
        placed = placed[single[pick[placed]]]
        pool_of = np.full(problem.n_items, -1, dtype=np.int64)
        pool_of[placed] = main[pick[placed]]
        order = placed[np.argsort(-cost[pick[placed]], kind="stable")]
        for n, i in enumerate(order.tolist()):
            if n % 64 == 0 and now() > deadline:
                break
            a = int(pick[i])
            p_pool = int(main[a])
            for t in _cheaper(problem, single, i, a, targets):
                q_pool = int(main[t])
                js = np.flatnonzero(pool_of == q_pool)
                if len(js) == 0:
                    continue
                b = on_pool(js, p_pool)
                ok = b >= 0
                js, b = js[ok], b[ok]
                cur_j = pick[js]
                room_q = free[q_pool] + size[cur_j] - size[t] >= 0
                room_p = free[p_pool] + size[a] - size[b] >= 0
                gain = cost[a] + cost[cur_j] - cost[t] - cost[b]
                good = room_q & room_p & (gain > 0)
                if not good.any():
                    continue
                k = int(np.argmax(np.where(good, gain, -1)))
                j, bj, cj = int(js[k]), int(b[k]), int(cur_j[k])
                free[q_pool] += size[cj] - size[t]
                free[p_pool] += size[a] - size[bj]
                pick[i], pick[j] = t, bj
                pool_of[i], pool_of[j] = q_pool, p_pool
                swapped = True
                break
        if swapped:
            pick = improve(problem, pick, deadline)
            free = problem.capacity - problem.usage(pick)
    return pick


def exchange(problem: Problem, pick: Ints, deadline: float, targets: int = 3) -> Ints:
    """Two-pool exchanges that lower the cost. For each item on a dearer option than its
    cheapest (dearest first), its pool P and the pool Q of each of its `targets` cheapest
    cheaper options are divided again, exactly: every item on P or Q with an option of
    the same size on both takes one of them, at least total cost within both capacities
    (0/1 dynamic programming over Q's room). Pass after pass until none helps or time is
    up. Options using more than one resource take no part. The same items stay placed;
    the cost never rises."""
    pick = pick.copy()
    single, main, size, on_pool = _single_uses(problem)
    cost = problem.cost
    cheapest = problem.item_min(cost.astype(np.float64))
    free = problem.capacity - problem.usage(pick)
    tried: set[tuple[int, int]] = set()  # pairs that gained nothing since they changed
    improved = True
    while improved and now() < deadline:
        improved = False
        placed = np.flatnonzero(pick >= 0)
        placed = placed[single[pick[placed]] & (cost[pick[placed]] > cheapest[placed])]
        order = placed[np.argsort(cheapest[placed] - cost[pick[placed]], kind="stable")]
        for item in order.tolist():
            if now() > deadline:
                break
            current = int(pick[item])
            p = int(main[current])
            for target in _cheaper(problem, single, item, current, targets):
                q = int(main[target])
                if (p, q) in tried:
                    continue
                if _divide(problem, pick, free, (p, q), (main, size, on_pool)):
                    improved = True
                    tried = {pair for pair in tried if p not in pair and q not in pair}
                    break
                tried.add((p, q))
    return pick


def _divide(
    problem: Problem,
    pick: Ints,
    free: Ints,
    pools: tuple[int, int],
    uses: tuple[Ints, Ints, Callable[[Ints, int], Ints]],
) -> bool:
    """Divide the items of pools P and Q between them at least cost (in place); False
    when nothing cheaper exists."""
    (p, q), (main, size, on_pool) = pools, uses
    on = np.flatnonzero(pick >= 0)
    on = on[np.isin(main[pick[on]], pools)]
    at_p = np.where(main[pick[on]] == p, pick[on], on_pool(on, p))
    at_q = np.where(main[pick[on]] == q, pick[on], on_pool(on, q))
    either = (at_p >= 0) & (at_q >= 0)
    either[either] = size[at_p[either]] == size[at_q[either]]
    items, at_p, at_q = on[either], at_p[either], at_q[either]
    if len(items) < 2:
        return False
    amount = size[at_p]
    now_on_q = main[pick[items]] == q
    room_q = int(free[q]) + int(amount[now_on_q].sum())
    room_p = int(free[p]) + int(amount[~now_on_q].sum())
    least_q = max(0, int(amount.sum()) - room_p)  # what P cannot hold goes to Q
    if least_q > room_q or len(items) * (room_q + 1) > REPACK_CELLS:
        return False
    # All on P, then the cheapest way to move at least least_q (and at most room_q) to Q.
    rise = (problem.cost[at_q] - problem.cost[at_p]).astype(np.float64)
    to_q = _knapsack(amount, -rise, room_q, least_q)
    if to_q is None:
        return False
    chosen = np.where(to_q, at_q, at_p)
    if sum(int(x) for x in problem.cost[chosen]) >= sum(int(x) for x in problem.cost[pick[items]]):
        return False
    for item, option in zip(items.tolist(), chosen.tolist(), strict=True):
        _take(problem, free, int(pick[item]), -1)
        _take(problem, free, option, 1)
        pick[item] = option
    return True


def _cheaper(problem: Problem, single: Bools, item: int, current: int, most: int) -> list[int]:
    """The item's `most` cheapest single-use options cheaper than `current`, cheapest
    first."""
    lo, hi = int(problem.item_ptr[item]), int(problem.item_ptr[item + 1])
    cost = problem.cost
    cheaper = lo + np.flatnonzero(single[lo:hi] & (cost[lo:hi] < cost[current]))
    out: list[int] = cheaper[np.argsort(cost[cheaper], kind="stable")][:most].tolist()
    return out


def _single_uses(problem: Problem) -> tuple[Bools, Ints, Ints, Callable[[Ints, int], Ints]]:
    """Options using one resource only: the mask, each one's resource and amount (-1, 0
    for the others), and a lookup of items' options on a pool (-1 where none)."""
    single = np.diff(problem.use_ptr) == 1
    resource, amount = problem.main_use
    main, size = np.where(single, resource, -1), np.where(single, amount, 0)
    # The option of item j on pool r, found by (j, r) in a sorted key array.
    keyed = np.flatnonzero(single)
    keys = problem.option_item[keyed] * problem.n_resources + main[keyed]
    by_key = np.argsort(keys, kind="stable")
    keys, keyed = keys[by_key], keyed[by_key]

    def on_pool(items: Ints, pool: int) -> Ints:
        if len(keys) == 0:
            return np.full(len(items), -1, dtype=np.int64)
        wanted = items * problem.n_resources + pool
        at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        found: Ints = np.where(keys[at] == wanted, keyed[at], -1)
        return found

    return single, main, size, on_pool


def squeeze_in(
    problem: Problem, pick: Ints, score: Floats, wanted: Ints, deadline: float = np.inf
) -> Ints:
    """Place the `wanted` unplaced items where nothing has room: for each (in the order
    given), try its options by `score` and move items out of the way, each to the option of its
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

    def place(item: int, option: int) -> None:
        _take(problem, free, option, 1)
        pick[item] = option
        a, b = int(use_ptr[option]), int(use_ptr[option + 1])
        for r in use_res[a:b].tolist():
            holders.setdefault(r, set()).add(item)

    def lift(item: int) -> int:
        option = int(pick[item])
        _take(problem, free, option, -1)
        pick[item] = UNPLACED
        a, b = int(use_ptr[option]), int(use_ptr[option + 1])
        for r in use_res[a:b].tolist():
            holders[r].discard(item)
        return option

    def _move_rise(item: int) -> float:
        current = int(pick[item])
        target = _cheapest_fit(problem, item, score, free, exclude=current)
        return np.inf if target < 0 else float(score[target] - score[current])

    for item in wanted.tolist():
        if now() > deadline:
            break
        lo, hi = int(ptr[item]), int(ptr[item + 1])
        for option in (lo + np.argsort(score[lo:hi], kind="stable")).tolist():
            a, b = int(use_ptr[option]), int(use_ptr[option + 1])
            short = use_res[a:b][free[use_res[a:b]] < use_amt[a:b]].tolist()
            moved: list[tuple[int, int]] = []
            _take(problem, free, option, 1)  # the wanted item's room stays reserved meanwhile
            for r in short:
                # Occupants of r, those whose move raises the score least first.
                occupants = sorted(holders.get(r, ()), key=_move_rise)
                for other in occupants:
                    if free[r] >= 0:
                        break
                    target = _cheapest_fit(problem, other, score, free, exclude=int(pick[other]))
                    if target >= 0:
                        moved.append((other, lift(other)))
                        place(other, target)
            _take(problem, free, option, -1)
            if bool(np.all(free[use_res[a:b]] >= use_amt[a:b])):
                place(item, option)
                break
            for other, before in reversed(moved):  # undo: this option cannot be freed
                lift(other)
                place(other, before)
    return pick


REPACK_CELLS = 4_000_000  # knapsack table cells (items x capacity) per resource
REPACK_CANDIDATES = 200  # items from elsewhere offered to one resource, best first


def repack(problem: Problem, pick: Ints, deadline: float = np.inf) -> Ints:
    """The best contents of each main resource (an option's first use: a pool's devices)
    in turn: which of the items that could go there should, by 0/1-knapsack dynamic
    programming over its capacity. An item's worth there is what it adds over where it
    would be otherwise: an unplaced item its value, an item placed elsewhere what it
    saves, an occupant what it would cost to move it to its cheapest other option with
    room (or its value, with none). Occupants left out move there or wait for the
    resources after it. Sweeps until one gains nothing or time is up. Required items are
    never left out; an option using other resources too (a deadline job's links) moves
    only where they have room. Never worse: more value, or as much at less cost."""
    pick = pick.copy()
    main, size = problem.main_use
    order, bounds = grouped(main, problem.n_resources)
    on = {r: order[bounds[r] : bounds[r + 1]] for r in range(problem.n_resources)}
    on = {r: options for r, options in on.items() if len(options)}
    free = problem.capacity - problem.usage(pick)
    score = problem.cost.astype(np.float64)
    # Value first: all costs together weigh less than one unit of value.
    tie = 0.5 / (float(np.abs(problem.cost).sum()) + 1.0)
    stale = dict.fromkeys(on, True)  # looked at again only once something changed
    while any(stale.values()) and now() < deadline:
        for r, options in on.items():
            if now() > deadline:
                break
            if not stale[r]:
                continue
            stale[r] = False
            moved = _repack_one(problem, pick, free, r, options, (main, size, score), tie)
            for other in np.unique(main[_options_of(problem, moved)]).tolist():
                if other in stale and other != r:
                    stale[other] = True
    return pick


def _repack_one(
    problem: Problem,
    pick: Ints,
    free: Ints,
    r: int,
    options: Ints,
    per_option: tuple[Ints, Ints, Floats],
    tie: float,
) -> Ints:
    """One resource's knapsack, applied to `pick` and `free` in place if it gains;
    returns the items it moved or left out. `per_option`: each option's main resource,
    its amount there and its cost as a float."""
    item_of, cost, value = problem.option_item, problem.cost, problem.value
    main, size, score = per_option
    picked = pick[item_of[options]]
    occupants = options[picked == options]
    room = int(free[r]) + int(size[occupants].sum())
    inside = np.zeros(problem.n_items, dtype=np.bool_)
    inside[item_of[occupants]] = True
    # Items from elsewhere, at their cheapest option here whose other uses fit now.
    outside = options[~inside[item_of[options]] & (size[options] <= room)]
    spare = free.copy()
    spare[r] = SAFE_ROOM
    outside = outside[_fit_each(problem, outside, spare)]
    outside = outside[np.lexsort((cost[outside], item_of[outside]))]
    outside = outside[np.unique(item_of[outside], return_index=True)[1]]
    now_at = pick[item_of[outside]]
    gain_out = np.where(
        now_at >= 0,
        tie * (cost[np.maximum(now_at, 0)] - cost[outside]),
        value[item_of[outside]] - tie * cost[outside],
    )
    outside, gain_out = outside[gain_out > 0], gain_out[gain_out > 0]
    if len(outside) == 0:
        return NOTHING
    outside, gain_out = _densest(outside, gain_out, size, REPACK_CANDIDATES)
    # Occupants: what keeping each here is worth over its cheapest other place.
    keep_gain = np.empty(len(occupants))
    for k, option in enumerate(occupants.tolist()):
        item = int(item_of[option])
        alt = _cheapest_fit(problem, item, score, free, exclude=option)
        if alt >= 0 and main[alt] != r:
            keep_gain[k] = tie * (cost[alt] - cost[option])
        elif problem.required[item]:
            keep_gain[k] = np.inf  # it must stay
        else:
            keep_gain[k] = value[item] - tie * cost[option]
    stays = np.isinf(keep_gain)
    room -= int(size[occupants[stays]].sum())
    occupants, keep_gain = occupants[~stays], keep_gain[~stays]
    room = min(room, int(size[occupants].sum() + size[outside].sum()))
    most = max(REPACK_CELLS // (room + 1) - len(occupants), 0)  # table size
    outside, gain_out = _densest(outside, gain_out, size, most)
    if len(outside) == 0:
        return NOTHING
    candidates = np.concatenate([occupants, outside])
    chosen = _knapsack(size[candidates], np.concatenate([keep_gain, gain_out]), room)
    assert chosen is not None  # the empty set always fits
    left, coming = occupants[~chosen[: len(occupants)]], outside[chosen[len(occupants) :]]
    if len(coming) == 0 and len(left) == 0:
        return NOTHING
    before, free_before = pick.copy(), free.copy()
    for option in left.tolist():
        _take(problem, free, option, -1)
        pick[item_of[option]] = UNPLACED
    for option in coming[np.argsort(-gain_out[chosen[len(occupants) :]])].tolist():
        item = int(item_of[option])
        if pick[item] >= 0:
            _take(problem, free, int(pick[item]), -1)
        target = option if _fits(problem, option, free) else int(pick[item])
        if target >= 0:
            _take(problem, free, target, 1)
        pick[item] = target
    for option in left.tolist():  # to their cheapest place with room now, if any
        item = int(item_of[option])
        target = _cheapest_fit(problem, item, score, free)
        if target >= 0:
            _take(problem, free, target, 1)
            pick[item] = target
    changed = np.flatnonzero(pick != before)
    old, new = _worth(problem, changed, before[changed]), _worth(problem, changed, pick[changed])
    lost_required = bool(np.any(problem.required[changed] & (pick[changed] < 0)))
    if not lost_required and (new[0] > old[0] or (new[0] == old[0] and new[1] < old[1])):
        return changed
    pick[:], free[:] = before, free_before
    return NOTHING


def _densest(options: Ints, gain: Floats, size: Ints, most: int) -> tuple[Ints, Floats]:
    """At most `most` of the options, those gaining most per unit of their size."""
    if len(options) <= most:
        return options, gain
    best = np.argsort(-gain / np.maximum(size[options], 1), kind="stable")[:most]
    return options[best], gain[best]


def _worth(problem: Problem, items: Ints, at: Ints) -> tuple[int, int]:
    """(value, cost) of the given items at the given options (-1: unplaced), exactly."""
    on = at >= 0
    value = sum(int(v) for v in problem.value[items[on]])
    return value, sum(int(c) for c in problem.cost[at[on]])


def _options_of(problem: Problem, items: Ints) -> Ints:
    """All options of the given items."""
    if len(items) == 0:
        return NOTHING
    lo, hi = problem.item_ptr[items], problem.item_ptr[items + 1]
    return np.concatenate([np.arange(a, b) for a, b in zip(lo.tolist(), hi.tolist(), strict=True)])


def _knapsack(size: Ints, gain: Floats, room: int, least: int = 0) -> Bools | None:
    """Which items to take: most total `gain` with total size between `least` and
    `room` (0/1 dynamic programming over exact sizes, one vector step per item); None
    when no set reaches `least`."""
    best = np.full(room + 1, -np.inf)
    best[0] = 0.0
    took = np.zeros((len(size), room + 1), dtype=np.bool_)
    for k, s in enumerate(size.tolist()):
        if s > room or (gain[k] <= 0 and least == 0):  # such an item could only lose
            continue
        with_k = best[: room + 1 - s] + gain[k]
        better = with_k > best[s:]
        took[k, s:] = better
        best[s:] = np.where(better, with_k, best[s:])
    c = least + int(np.argmax(best[least:]))
    if not np.isfinite(best[c]):
        return None
    chosen = np.zeros(len(size), dtype=np.bool_)
    for k in range(len(size) - 1, -1, -1):
        if took[k, c]:
            chosen[k] = True
            c -= int(size[k])
    return chosen


def _fit_each(problem: Problem, options: Ints, free: Ints) -> Bools:
    """Does each of `options` (any, in any order) fit in `free`?"""
    starts, counts = problem.use_ptr[options], np.diff(problem.use_ptr)[options]
    ends = np.cumsum(counts)
    uses = np.arange(int(ends[-1]) if len(ends) else 0) + np.repeat(starts - ends + counts, counts)
    ok = free[problem.use_res[uses]] >= problem.use_amt[uses]
    fits = np.ones(len(options), dtype=np.bool_)
    nonempty = counts > 0
    fits[nonempty] = np.logical_and.reduceat(ok, (ends - counts)[nonempty])
    return fits


def _fits(problem: Problem, option: int, free: Ints) -> bool:
    a, b = int(problem.use_ptr[option]), int(problem.use_ptr[option + 1])
    return bool(np.all(free[problem.use_res[a:b]] >= problem.use_amt[a:b]))


def _take(problem: Problem, free: Ints, option: int, sign: int) -> None:
    a, b = int(problem.use_ptr[option]), int(problem.use_ptr[option + 1])
    free[problem.use_res[a:b]] -= sign * problem.use_amt[a:b]


def biggest_first(problem: Problem, items: Ints) -> Ints:
    """`items` by the devices of their smallest option, largest first."""
    smallest = problem.item_min(problem.main_use[1].astype(np.float64))
    return items[np.argsort(-smallest[items], kind="stable")]


def _cheapest_fit(
    problem: Problem, item: int, score: Floats, free: Ints, exclude: int | None = None
) -> int:
    """The item's lowest-`score` option with room in `free` (not `exclude`), or -1."""
    lo, hi = int(problem.item_ptr[item]), int(problem.item_ptr[item + 1])
    fits = _fitting(problem.use_ptr[lo : hi + 1], problem.use_res, problem.use_amt, free)
    if exclude is not None:
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
    smallest = problem.item_min(problem.main_use[1].astype(np.float64))[items]
    density = problem.value[items] / np.maximum(smallest, 1.0)
    required = problem.required[items]
    order = np.lexsort((smallest, np.where(required, -smallest, -density), ~required))
    return [int(i) for i in items[order]]
