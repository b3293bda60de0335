"""Large neighbourhood search: re-solve a few resources at a time with CP-SAT.

A neighbourhood is a small set of resources. Items placed on options that touch them,
and the most valuable unplaced items that could go there, are freed; CP-SAT re-places
them on those options within the capacity the others leave (value first, then cost),
hinted with their current places, so a step never makes the answer worse.
For cost, neighbourhoods start where the assignment most disagrees with the LP and grow
along the cheaper options of the items placed there, or gather around a waiting item.
Linked ones (for more work, and for GAP once CP-SAT stalls) are a pool drawn at random
with 2-3 pools that share items with it. Seeded: the same seed, the same walk.
"""

from __future__ import annotations

import time

import numpy as np

from router.solve.clock import now
from router.solve.cpsat import solve_cpsat
from router.solve.problem import Bools, Floats, Ints, Problem, inverse, translate

STEP_SECONDS = 0.3  # time cap of one neighbourhood solve
LINKED_STEP_SECONDS = 0.1  # the same for linked neighbourhoods (3-4 pools: measured best)
RELAXED_STEP_SECONDS = 0.2  # the same for LP-guided ones (GAP d: 0.2 s beat 0.3 s)
MAX_SUB_OPTIONS = 2000  # neighbourhoods larger than this shrink
MAX_WAITING = 40  # unplaced items offered to one neighbourhood
RELAXED_POOLS = 3  # pools whose items an LP-guided neighbourhood frees


def lns(
    problem: Problem,
    pick: Ints,
    lp_x: Floats | None,
    deadline: float,
    seed: int = 0,
    linked: bool = False,
) -> Ints:
    """Improve the feasible `pick` until `deadline`; returns the best assignment found.
    `linked`: neighbourhoods of a pool drawn uniformly and 2-3 pools sharing items with
    it (for more work: whose contents can trade places); with the LP's `lp_x` too, the
    items on 3 pools drawn uniformly and every item the LP places elsewhere, each free to
    go anywhere (for cost alone, as on GAP). Otherwise grown from where the plan most
    disagrees with the LP along cheaper options, or around a waiting item."""
    if problem.n_resources == 0 or problem.n_options == 0:
        return pick
    rng = np.random.default_rng(seed)
    target = None
    if lp_x is not None:
        target = np.bincount(
            problem.use_res,
            weights=lp_x[problem.use_option] * problem.use_amt,
            minlength=problem.n_resources,
        )
    step_seconds, size, max_size = (LINKED_STEP_SECONDS, 3, 4) if linked else (STEP_SECONDS, 4, 30)
    if linked and lp_x is not None:
        step_seconds = RELAXED_STEP_SECONDS
    main = problem.main_use[0]
    pools = np.unique(main[main >= 0])
    stale, turn = 0, 0
    while now() < deadline - 0.05 and stale < 4 * problem.n_resources:
        turn += 1
        waiting = np.flatnonzero((pick < 0) & (np.diff(problem.item_ptr) > 0))
        free = None
        if linked and lp_x is not None and len(pools):
            drawn = rng.choice(pools, size=min(RELAXED_POOLS, len(pools)), replace=False)
            free = _disagreeing(problem, main, pick, lp_x, drawn)
            chosen = np.zeros(problem.n_resources, dtype=np.bool_)  # free items go anywhere
        elif linked and len(pools):
            chosen = _linked(problem, int(rng.choice(pools)), size, rng)
        elif turn % 2 and len(waiting):
            # Make room for a waiting item: the main resources of its cheapest options.
            item = int(rng.choice(waiting, p=_shares(problem.value[waiting])))
            chosen = _around(problem, item, size)
        else:
            used = problem.usage(pick)
            weight = np.full(problem.n_resources, 0.05)
            if target is not None:
                weight += np.abs(used - target) / np.maximum(problem.capacity, 1)
            seed_resource = int(rng.choice(problem.n_resources, p=_shares(weight)))
            chosen = _grow(problem, pick, seed_resource, size, rng)
        until = min(deadline, time.monotonic() + step_seconds)
        step = resolve(problem, pick, chosen, until, rng, free)
        if step is None:
            size, stale = max(1, size - 1), stale + 1
            continue
        better, sub_options = step
        if sub_options < MAX_SUB_OPTIONS // 4:
            size = min(size + 1, max_size)
        if better is None:
            stale += 1
        else:
            pick, stale = better, 0
    return pick


def _shares(weight: Floats | Ints) -> Floats:
    w = np.asarray(weight, dtype=np.float64) + 1e-12
    out: Floats = w / w.sum()
    return out


def _around(problem: Problem, item: int, size: int) -> Bools:
    """The main resource (first use) of the item's cheapest options, up to `size`."""
    lo, hi = int(problem.item_ptr[item]), int(problem.item_ptr[item + 1])
    chosen = np.zeros(problem.n_resources, dtype=np.bool_)
    for option in (lo + np.argsort(problem.cost[lo:hi], kind="stable")).tolist():
        if problem.use_ptr[option + 1] > problem.use_ptr[option]:
            chosen[problem.use_res[problem.use_ptr[option]]] = True
        if chosen.sum() >= max(size // 2, 1):
            break
    return chosen


def _linked(problem: Problem, seed_resource: int, size: int, rng: np.random.Generator) -> Bools:
    """The seed and `size - 1` pools drawn at random, each as likely as the items with
    options on both it and the seed are many: pools whose contents can trade places."""
    main = problem.main_use[0]
    chosen = np.zeros(problem.n_resources, dtype=np.bool_)
    chosen[seed_resource] = True
    on_seed = np.zeros(problem.n_items, dtype=np.bool_)
    on_seed[problem.option_item[main == seed_resource]] = True
    linked = main[on_seed[problem.option_item] & (main >= 0) & (main != seed_resource)]
    counts = np.bincount(linked, minlength=problem.n_resources).astype(np.float64)
    draw = min(size - 1, int(np.count_nonzero(counts)))
    if draw:
        chosen[rng.choice(problem.n_resources, size=draw, replace=False, p=_shares(counts))] = True
    return chosen


def _disagreeing(problem: Problem, main: Ints, pick: Ints, lp_x: Floats, pools: Ints) -> Bools:
    """Items placed on the given pools (`main`: each option's pool), and items the LP
    places mostly elsewhere (relaxation-induced: where plan and LP agree, the optimum
    mostly does too)."""
    placed = np.flatnonzero(pick >= 0)
    options = pick[placed]
    free = np.zeros(problem.n_items, dtype=np.bool_)
    free[placed[np.isin(main[options], pools) | (lp_x[options] < 0.5)]] = True
    return free


def _touching(problem: Problem, resources: Bools) -> Bools:
    """Options that use any of the marked resources."""
    out = np.zeros(problem.n_options, dtype=np.bool_)
    out[problem.use_option[resources[problem.use_res]]] = True
    return out


def _grow(
    problem: Problem, pick: Ints, seed_resource: int, size: int, rng: np.random.Generator
) -> Bools:
    """The seed resource plus those where items placed on it have cheaper options."""
    chosen = np.zeros(problem.n_resources, dtype=np.bool_)
    chosen[seed_resource] = True
    here = _touching(problem, chosen)
    placed = np.zeros(problem.n_options, dtype=np.bool_)
    placed[pick[pick >= 0]] = True
    items = np.unique(problem.option_item[here & placed])
    if len(items):
        current = np.full(problem.n_items, -np.inf)
        current[items] = problem.cost[pick[items]]
        cheaper = problem.cost < current[problem.option_item]
        counts = np.bincount(
            problem.use_res[cheaper[problem.use_option]], minlength=problem.n_resources
        ).astype(np.float64)
        counts[seed_resource] = 0
        counts += rng.random(problem.n_resources) * 0.5
        for r in np.argsort(-counts)[: size - 1]:
            if counts[r] >= 1:
                chosen[r] = True
    while chosen.sum() < min(size, problem.n_resources):
        chosen[int(rng.integers(problem.n_resources))] = True
    return chosen


def resolve(
    problem: Problem,
    pick: Ints,
    chosen: Bools,
    deadline: float,
    rng: np.random.Generator,
    free: Bools | None = None,
) -> tuple[Ints | None, int] | None:
    """Re-solve the neighbourhood (the options on the `chosen` resources, and every
    option of the `free` items): (improved pick or None, its size), or None when it was
    too big."""
    inside = _touching(problem, chosen)
    if free is not None:
        inside |= free[problem.option_item]
    placed_inside = np.flatnonzero(translate(pick, inside.astype(np.int64)) > 0)
    has_inside = np.bincount(problem.option_item[inside], minlength=problem.n_items) > 0
    waiting = np.flatnonzero((pick < 0) & has_inside)
    if len(waiting) > MAX_WAITING:  # the most valuable, randomly tie-broken
        keys = problem.value[waiting] * (1.0 + 0.2 * rng.random(len(waiting)))
        waiting = waiting[np.argsort(-keys)[:MAX_WAITING]]
    items = np.concatenate([placed_inside, waiting]).astype(np.int64)
    if len(items) == 0:
        return None
    rest = pick.copy()
    rest[placed_inside] = -1
    capacity = problem.capacity - problem.usage(rest)
    sub, index = problem.restrict(inside, capacity, items)
    if sub.n_options > MAX_SUB_OPTIONS:
        return None
    hint = translate(pick[items], inverse(index, problem.n_options))
    found = solve_cpsat(sub, deadline, hint=hint, seed=int(rng.integers(2**31)), workers=1)
    if found.pick is None:
        return None, sub.n_options
    gain = (
        sub.value_of(found.pick) - sub.value_of(hint),
        sub.cost_of(hint) - sub.cost_of(found.pick),
    )
    if gain <= (0, 0):
        return None, sub.n_options
    better = rest
    better[items] = translate(found.pick, index)
    return better, sub.n_options
