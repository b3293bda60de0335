"""The solve pipeline on a flat grouped problem: greedy, LPs, LP-guided search, bounds.

1. A value-first greedy gives a first assignment (and a fallback answer).
2. The value LP (GLOP; skipped when every valued item is required) bounds the value;
   rounding it gives a high-value assignment of value V.
3. The cost LP at the value LP's optimum is the cheapest of the most valuable
   fractional solutions; rounding it, a greedy priced with its duals, and relax-and-fix
   (CP-SAT places what the LP left fractional) give cheaper assignments, kept only if
   lexicographically better. A second cost LP at the value reached gives the bound when
   time allows; otherwise the bound comes from the prices at hand.
4. Small models then go to CP-SAT whole (hinted, with reduced-cost fixing) for the
   remaining time, which often proves optimality; large ones to LNS (router/solve/lns.py).

Every bound is a Lagrangian bound evaluated on all options (router/solve/lp_bound.py), so it
stays valid even when an LP ran out of time or saw only some options.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from router.solve.cpsat_model import solve_cpsat
from router.solve.flat import BoolArray, Flat, FloatArray, IntArray
from router.solve.greedy import fill, improve, round_down
from router.solve.lns import lns
from router.solve.lp_bound import (
    LpResult,
    banned_options,
    cost_lower_bound,
    lagrangian,
    max_value_lp,
    min_cost_lp,
    value_upper_bound,
)

CP_SAT_MAX_OPTIONS = 60_000  # above this, building the whole CP-SAT model costs too much
FULL_LP_MAX_OPTIONS = 400_000  # above this, the LPs start from a few options per group
LP_OPTIONS = 6  # cheapest options per group in a restricted LP
LP_ROUNDS = 12  # restricted LP solves (column generation rounds) at most
PRICE_SCALES = (0.5, 1.0)  # measured: half prices often pack best
RESIDUAL_OPTIONS = 12  # options per group kept in the relax-and-fix CP-SAT model


@dataclass(frozen=True, slots=True, eq=False)
class Outcome:
    """The best assignment (None if none found) and what is proven about it."""

    y: IntArray | None
    value_bound: int
    cost_bound: int  # valid for assignments with value >= the returned value
    value_optimal: bool
    cost_optimal: bool
    infeasible: bool


def optimise(
    flat: Flat, deadline: float, workers: int = 2, log: Callable[[str], None] | None = None
) -> Outcome:
    """Best assignment found by `deadline` (time.monotonic()), with bounds.

    `log`, if given, receives one line per phase (for benchmarks and debugging).
    """

    def note(phase: str, y: IntArray | None = None) -> None:
        if log is not None:
            found = "-" if y is None else f"value={flat.value_of(y)} cost={flat.cost_of(y)}"
            log(f"{time.monotonic():.2f} {phase}: {found}")

    if np.any(flat.required & (np.diff(flat.group_ptr) == 0)):
        return _infeasible()  # a required item has no option that fits anywhere
    small = flat.n_options <= CP_SAT_MAX_OPTIONS
    started = time.monotonic()
    best = _feasible(flat, fill(flat, round_down(flat, None), None, _share(deadline, 0.2)))
    greedy_seconds = time.monotonic() - started  # what one more greedy pass will cost
    note("greedy", best)
    value_bound = int(flat.value @ flat.count)
    lp1: LpResult | None = None
    if not np.all(flat.required | (flat.value == 0)):
        lp1 = _restricted(flat, None, best, _share(deadline, 0.45))
        if lp1.infeasible:
            return _infeasible()
        value_bound = min(value_bound, value_upper_bound(flat, lp1))
        from_value = fill(flat, round_down(flat, lp1.x), None, _share(deadline, 0.2))
        best = _better(flat, best, _feasible(flat, from_value))
        note(f"value LP (bound {value_bound}), rounded", best)
    floor = _value_floor(flat, best)
    # The cost LP keeps the LP's own best value (not just the rounded one), so that its
    # solution is the cheapest among the most valuable: the best guide for rounding.
    target = floor
    if lp1 is not None and lp1.x is not None:
        lp_value = float(flat.value[flat.option_group] @ lp1.x)
        target = max(floor, math.floor(lp_value * (1 - 1e-7)))

    lp_started = time.monotonic()
    lp = _restricted(flat, target, best, _share(deadline, 0.4 if small else 0.6))
    lp_seconds = time.monotonic() - lp_started
    if lp.infeasible and target == floor:
        return _infeasible()
    cost_bound, mu = _cost_bound(flat, [lp], lp1, floor, _share(deadline, 0.1))
    if lp.mu > 0:
        value_bound = min(value_bound, value_upper_bound(flat, lp))
    note(f"cost LP (bound {cost_bound})")
    if lp.x is not None:
        rounded = _feasible(flat, fill(flat, round_down(flat, lp.x), None, _share(deadline, 0.2)))
        note("cost LP, rounded", rounded)
        best = _better(flat, best, rounded)
    for scale in PRICE_SCALES:  # Lagrangian greedy: price scarce resources into the choice
        if deadline - time.monotonic() < 3 * greedy_seconds:
            break
        score = _priced(flat, lp, scale)
        priced = _feasible(flat, fill(flat, round_down(flat, None), score, _share(deadline, 0.2)))
        best = _better(flat, best, priced)
        note(f"priced greedy x{scale}", priced)
    fixed = None
    if lp.x is not None and deadline - time.monotonic() > 4 * greedy_seconds:
        fixed = _relax_and_fix(flat, lp, _share(deadline, 0.2), workers)
        note("relax-and-fix", fixed)
        best = _better(flat, best, fixed)
    if best is not None:
        best = improve(flat, best, _share(deadline, 0.3))
        note("moves", best)
    sources = [lp]
    reached = _value_floor(flat, best)
    if reached < target and deadline - time.monotonic() > 1.2 * lp_seconds + 0.2:
        # The cost LP ran at the LP's value; its prices bound a lower value loosely.
        sources.append(_restricted(flat, reached, best, _share(deadline, 0.8)))
        note("cost LP at the value reached")
    cost_bound, mu = _cost_bound(flat, sources, lp1, reached, _share(deadline, 0.1))
    lp, floor = sources[-1], reached

    if not small and best is not None:
        best = lns(flat, best, lp.x, deadline, workers=workers)
        note("LNS", best)
    elif small and not _proven(flat, best, value_bound, cost_bound):
        banned = None
        if best is not None:
            banned = banned_options(flat, lp, mu, floor, flat.cost_of(best))
        cp = solve_cpsat(
            flat,
            deadline,
            hint=best,
            value_upper=value_bound,
            banned=banned,
            workers=workers,
            linearization=2,  # measured on GAP: proves more chu1997 instances in 10 s
        )
        if cp.infeasible:
            return _infeasible()
        best = _better(flat, best, cp.y)
        note(f"CP-SAT (bound {cp.cost_bound})", best)
        if cp.cost_bound is not None and best is not None and flat.value_of(best) >= cp.value_floor:
            cost_bound = max(cost_bound, cp.cost_bound)
        if cp.value_optimal and best is not None and flat.value_of(best) >= cp.value_floor:
            value_bound = min(value_bound, flat.value_of(best))
    if best is None:
        return Outcome(None, value_bound, 0, False, False, False)
    if flat.value_of(best) > floor:  # more value placed: the same prices bound it tighter
        more = _cost_bound(flat, sources, lp1, flat.value_of(best), deadline)
        cost_bound = max(cost_bound, more[0])
    value_optimal = flat.value_of(best) >= value_bound
    cost_optimal = flat.cost_of(best) <= cost_bound
    return Outcome(best, value_bound, cost_bound, value_optimal, cost_optimal, False)


def _restricted(
    flat: Flat, floor: int | None, incumbent: IntArray | None, deadline: float
) -> LpResult:
    """The value LP (floor None) or cost LP over a restricted set of options.

    Large problems keep each group's LP_OPTIONS cheapest options plus the incumbent's;
    after each solve, options priced better than every kept one are added while time
    allows (column generation). Prices stay valid for the full problem, so the bounds
    evaluated on it are valid whatever was left out.
    """
    keep = np.ones(flat.n_options, dtype=np.bool_)
    if flat.n_options > FULL_LP_MAX_OPTIONS:
        keep = _best_options(flat, flat.cost.astype(np.float64), LP_OPTIONS)
        if incumbent is not None:
            keep |= incumbent > 0
    objective = flat.cost.astype(np.float64) if floor is not None else None
    result = LpResult(None, np.zeros(flat.n_resources), 0.0 if floor is not None else 1.0)
    for _ in range(LP_ROUNDS):
        sub, index = flat.residual(flat.count, keep, flat.capacity)
        solved = max_value_lp(sub, deadline) if floor is None else min_cost_lp(sub, floor, deadline)
        if solved.infeasible and keep.all():
            return solved
        if solved.x is None and not solved.infeasible:
            break
        if not solved.infeasible:
            x = np.zeros(flat.n_options)
            x[index] = solved.x
            result = LpResult(x, solved.prices, solved.mu, floor=floor)
        if keep.all() or time.monotonic() >= deadline:
            break
        added = _improving(flat, result, objective, keep)
        if not added.any():
            break
        keep |= added
    return result


def _improving(
    flat: Flat, lp: LpResult, objective: FloatArray | None, keep: BoolArray
) -> BoolArray:
    """Per group, its best reduced-priced option when it beats every kept one."""
    if objective is None:  # value LP: minimise -value
        objective = -flat.value[flat.option_group].astype(np.float64)
        mu = 0.0
    else:
        mu = lp.mu
    reduced = lagrangian(flat, objective, lp.prices, mu)[1]
    kept_best = flat.group_min(np.where(keep, reduced, np.inf))
    overall = flat.group_min(reduced)
    with np.errstate(invalid="ignore"):  # groups with no kept option compare against inf
        margin = 1e-9 * np.maximum(1.0, np.abs(overall))
        better = np.isfinite(overall) & (overall < kept_best - margin)
    candidate = (~keep) & better[flat.option_group] & (reduced <= overall[flat.option_group])
    added = np.zeros(flat.n_options, dtype=np.bool_)
    _, first = np.unique(flat.option_group[candidate], return_index=True)
    added[np.flatnonzero(candidate)[first]] = True
    return added


def _relax_and_fix(flat: Flat, lp: LpResult, deadline: float, workers: int) -> IntArray | None:
    """Keep the LP's integral part; let CP-SAT place what is left in the capacity left."""
    base = round_down(flat, lp.x)
    placed = np.bincount(flat.option_group, weights=base, minlength=flat.n_groups)
    left = flat.count - placed.astype(np.int64)
    keep = _best_options(flat, _priced(flat, lp), RESIDUAL_OPTIONS)
    if lp.x is not None:
        keep |= lp.x > 1e-9
    sub, index = flat.residual(left, keep, flat.capacity - flat.usage(base))
    hint = _feasible(sub, fill(sub, np.zeros(sub.n_options, dtype=np.int64)))
    cp = solve_cpsat(sub, deadline, hint=hint, workers=workers)
    found = cp.y if cp.y is not None else hint
    if found is None:
        return None
    y = base.copy()
    y[index] += found
    return _feasible(flat, y)


def _best_options(flat: Flat, score: FloatArray, per_group: int) -> BoolArray:
    """The `per_group` lowest-score options of every group."""
    order = np.lexsort((score, flat.option_group))
    rank = np.arange(flat.n_options) - flat.group_ptr[flat.option_group[order]]
    keep = np.zeros(flat.n_options, dtype=np.bool_)
    keep[order[rank < per_group]] = True
    return keep


def _cost_bound(
    flat: Flat, sources: list[LpResult], value_lp: LpResult | None, floor: int, deadline: float
) -> tuple[int, float]:
    """The best valid cost bound at value >= floor from every set of prices at hand."""
    bound, mu = max(cost_lower_bound(flat, lp, floor) for lp in sources)
    if value_lp is not None and not any(lp.x is not None and lp.floor == floor for lp in sources):
        bound = max(bound, _scaled_bound(flat, value_lp, floor, deadline))
    return bound, mu


def _scaled_bound(flat: Flat, value_lp: LpResult, floor: int, deadline: float) -> int:
    """A cost bound from value-unit prices scaled by s (prices s*pi, mu = s), best s tried
    before `deadline` (each is valid on its own)."""
    best = -(2**62)
    for s in np.geomspace(1e-3, 1e5, 9):
        scaled = LpResult(None, value_lp.prices * s, float(s))
        best = max(best, cost_lower_bound(flat, scaled, floor)[0])
        if time.monotonic() > deadline:
            break
    return best


def _priced(flat: Flat, lp: LpResult, scale: float = 1.0) -> FloatArray:
    """Cost plus (scaled) LP resource prices: the greedy's option score."""
    score = flat.cost.astype(np.float64)
    if len(flat.use_res):
        np.add.at(score, flat.use_option(), scale * lp.prices[flat.use_res] * flat.use_amt)
    return score


def _value_floor(flat: Flat, y: IntArray | None) -> int:
    """The value reached, or (no assignment) the required items' value, which any has."""
    if y is not None:
        return flat.value_of(y)
    return int(flat.value[flat.required] @ flat.count[flat.required])


def _proven(flat: Flat, y: IntArray | None, value_bound: int, cost_bound: int) -> bool:
    return y is not None and flat.value_of(y) >= value_bound and flat.cost_of(y) <= cost_bound


def _feasible(flat: Flat, y: IntArray | None) -> IntArray | None:
    """`y` if it places every required item, else None."""
    if y is None:
        return None
    placed = np.bincount(flat.option_group, weights=y, minlength=flat.n_groups)
    ok = np.all(placed[flat.required] == flat.count[flat.required])
    return y if ok else None


def _better(flat: Flat, a: IntArray | None, b: IntArray | None) -> IntArray | None:
    """The lexicographically better of two assignments (more value, then less cost)."""
    if a is None or b is None:
        return b if a is None else a
    ka = (flat.value_of(a), -flat.cost_of(a))
    kb = (flat.value_of(b), -flat.cost_of(b))
    return b if kb > ka else a


def _infeasible() -> Outcome:
    return Outcome(None, 0, 0, True, True, True)


def _share(deadline: float, fraction: float) -> float:
    """A deadline `fraction` of the way from now to `deadline`."""
    now = time.monotonic()
    return now + max(0.0, deadline - now) * fraction
