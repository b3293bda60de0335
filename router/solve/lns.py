"""Large neighbourhood search: re-solve a few resources at a time with CP-SAT.

A neighbourhood is a small set of resources. Items placed on them, and unplaced items
that could go there, are freed; CP-SAT re-places them within those resources, value
first, then cost, hinted with their current places, so a step never makes the answer
lexicographically worse. Neighbourhoods start where the assignment most disagrees with
the LP and grow along the cheaper options of the items placed there.
"""

from __future__ import annotations

import time

import numpy as np

from router.solve.cpsat_model import solve_cpsat
from router.solve.flat import Flat, FloatArray, IntArray

STEP_SECONDS = 0.3  # time cap of one CP-SAT neighbourhood solve
MAX_SUB_OPTIONS = 1500  # neighbourhoods larger than this are shrunk
MAX_UNPLACED = 40  # waiting (unplaced) groups offered to one neighbourhood


def lns(
    flat: Flat,
    y: IntArray,
    lp_x: FloatArray | None,
    deadline: float,
    *,
    workers: int = 2,
    seed: int = 0,
) -> IntArray:
    """Improve `y` (feasible) until `deadline`; returns the best assignment found."""
    if flat.n_resources == 0 or flat.n_options == 0:
        return y
    rng = np.random.default_rng(seed)
    uo = flat.use_option()
    target = flat.usage(np.floor(lp_x + 1e-6).astype(np.int64)) if lp_x is not None else None
    size = 6
    stale = 0
    while time.monotonic() < deadline - 0.05 and stale < 4 * flat.n_resources:
        used = flat.usage(y)
        weight = np.full(flat.n_resources, 0.05)
        if target is not None:
            weight += np.abs(used - target) / np.maximum(flat.capacity, 1)
        seed_r = int(rng.choice(flat.n_resources, p=weight / weight.sum()))
        chosen = _grow(flat, y, uo, seed_r, size, rng)
        step_deadline = min(deadline, time.monotonic() + STEP_SECONDS)
        step = _step(flat, y, uo, chosen, step_deadline, workers, rng)
        if step is None:
            size = max(2, size - 1)
            stale += 1
            continue
        better, sub_options = step
        if sub_options < MAX_SUB_OPTIONS // 4:
            size = min(size + 1, 30)
        if better is not None:
            y, stale = better, 0
        else:
            stale += 1
    return y


def _grow(
    flat: Flat, y: IntArray, uo: IntArray, seed_r: int, size: int, rng: np.random.Generator
) -> np.ndarray:
    """The seed resource plus those where items on it have cheaper options."""
    on_seed = np.zeros(flat.n_options, dtype=np.bool_)
    on_seed[uo[flat.use_res == seed_r]] = True
    groups = np.unique(flat.option_group[on_seed & (y > 0)])
    chosen = {seed_r}
    if len(groups):
        current_cost = np.full(flat.n_groups, np.inf)
        here = on_seed & (y > 0)
        np.minimum.at(current_cost, flat.option_group[here], flat.cost[here])
        cheaper = np.isfinite(current_cost[flat.option_group]) & (
            flat.cost < current_cost[flat.option_group]
        )
        entries = cheaper[uo]
        counts = np.bincount(flat.use_res[entries], minlength=flat.n_resources).astype(np.float64)
        counts[seed_r] = 0
        counts += rng.random(flat.n_resources) * 0.5
        for r in np.argsort(-counts)[: size - 1]:
            if counts[r] >= 1:
                chosen.add(int(r))
    while len(chosen) < min(size, flat.n_resources):
        chosen.add(int(rng.integers(flat.n_resources)))
    return np.array(sorted(chosen), dtype=np.int64)


def _step(
    flat: Flat,
    y: IntArray,
    uo: IntArray,
    chosen: np.ndarray,
    deadline: float,
    workers: int,
    rng: np.random.Generator,
) -> tuple[IntArray | None, int] | None:
    """Re-solve the items on `chosen` resources; (improved y or None, sub size), or None
    when the neighbourhood was too big."""
    in_set = np.zeros(flat.n_resources, dtype=np.bool_)
    in_set[chosen] = True
    outside = np.zeros(flat.n_options, dtype=np.bool_)
    outside[uo[~in_set[flat.use_res]]] = True
    inside = ~outside  # options whose every use is on a chosen resource
    touches = np.zeros(flat.n_options, dtype=np.bool_)
    touches[uo[in_set[flat.use_res]]] = True
    inside &= touches
    freed = np.where(inside, y, 0)
    placed = np.bincount(flat.option_group, weights=y, minlength=flat.n_groups).astype(np.int64)
    has_inside = np.bincount(flat.option_group, weights=inside, minlength=flat.n_groups) > 0
    freed_per_group = np.bincount(flat.option_group, weights=freed, minlength=flat.n_groups)
    unplaced = np.where(has_inside, flat.count - placed, 0)
    waiting = np.flatnonzero(unplaced > 0)
    if len(waiting) > MAX_UNPLACED:  # the most valuable waiting items, randomly tie-broken
        keys = flat.value[waiting] * (1.0 + 0.2 * rng.random(len(waiting)))
        unplaced[waiting[np.argsort(-keys)[MAX_UNPLACED:]]] = 0
    count = np.where(has_inside, freed_per_group.astype(np.int64) + unplaced, 0)
    if not count.any():
        return None
    capacity = flat.capacity - flat.usage(y - freed)
    sub, index = flat.residual(count, inside, capacity)
    if sub.n_options > MAX_SUB_OPTIONS:
        return None
    hint = freed[index]
    cp = solve_cpsat(sub, deadline, hint=hint, workers=workers, one_solve=True)
    if cp.y is None:
        return None, sub.n_options
    gain = (sub.value_of(cp.y) - sub.value_of(hint), sub.cost_of(hint) - sub.cost_of(cp.y))
    if gain <= (0, 0):
        return None, sub.n_options
    new = y - freed
    new[index] += cp.y
    return new, sub.n_options
