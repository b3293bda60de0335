"""The one solving pipeline, whatever the size: relax, bound, restrict, search.

Work comes first, then cost, so the stages first decide WHICH items to place, then
WHERE. Time splits by measurement, not by stage count (see the constants below).
1. Greedy fill in knapsack order: a first plan (and the answer if nothing else ends).
2. The value LP bounds the work; its rounding competes with the greedy; then each
   resource's contents are repacked for more work (a knapsack per pool: occupants
   move elsewhere or make way for more valuable unplaced items).
3. The cost LP at the work reached: its duals bound the cost; its rounding competes.
4. With time to spare (or on a small model), a search for more work: reduced-cost
   fixing, then CP-SAT on the restricted model hinted with the best plan, or large
   neighbourhood search over pools that share items. When the work is proven, an exact
   cost search: SCIP in a thread, racing CP-SAT and neighbourhoods from its plan while
   its gap stays wide; the first proof stops both.
5. Polish: the rest of the time goes to the cheapest placing of the items placed
   (exchanges, the items' own LP rounded, CP-SAT on the options that LP says matter);
   the room it leaves is repacked once more for work, and two-pool exchanges bring
   home what that left dear.
Models whose LP cannot finish in time use Lagrangian prices instead (_without_lp).
The cost bound is the Lagrangian bound from LP duals evaluated on ALL options, at the
work actually placed, so it is valid whatever was restricted or cut short.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import overload

import numpy as np

from router.solve.clock import also_stopped_by, cancellable, now, share
from router.solve.construct import empty_pick, exchange, fill, improve, repack, round_lp, swap
from router.solve.cpsat import CpResult, solve_cpsat
from router.solve.mip import MipResult, solve_mip
from router.solve.neighbourhood import lns
from router.solve.polish import polish
from router.solve.problem import Floats, Ints, Problem, check_problem, inverse, translate
from router.solve.relax import (
    SAFE_INFEASIBLE,
    Prices,
    cost_bound,
    lagrangian_prices,
    max_value_lp,
    min_cost_lp,
    reduced_costs,
    useless_options,
    value_bound,
)

CP_SAT_OPTIONS = 6_000  # restricted models up to this size go to CP-SAT whole
KEEP_PER_ITEM = 8  # options per item kept by reduced cost beyond the exact fixing
LP_SHARE = 0.5  # of the time left, at most, for each LP
REPACK_SHARE = 0.25  # of the time left, at most, for repacking resources for more work
FINAL_REPACK = 0.25  # of the time polish would have, kept to repack its result
SEARCH_SHARE = 0.4  # of the time left, for the search on which items to place
EXACT_SHARE = 0.5  # of the exact cost search's time, for CP-SAT before neighbourhoods
WIDE_GAP = 0.005  # CP-SAT's relative gap above which neighbourhoods take over (GAP d: 0.5-3%)
SEARCH_MIN_S = 2.5  # seconds left below which that search is skipped...
SMALL_OPTIONS = 2_000  # ...unless the model is this small (CP-SAT may prove it)
LP_SECONDS_20K = 0.15  # measured: GLOP's two LPs take 0.1-0.4 s at 20k options,
LP_GROWTH = 1.6  # ~6.5 s at 250k: time grows as options**1.6
FINAL_LP_MARGIN = 1.3  # time kept for the last cost LP, in units of the first one's time
# Without the LP: Lagrangian ascent, then each kind of exchange, get these shares of the
# time left (measured at 10,000 x 40 on two seeds: 12 of 16 workloads better than 0.5 and
# 0.3, which starved the exchanges: they stopped on time, not at a local optimum)
LAGRANGE_SHARE = 0.25
MOVE_SHARE = 0.5


@dataclass(frozen=True, eq=False)
class Solution:
    """The best plan found and what is proven about it.

    `choice[i]`: index into item i's options, or -1 (unplaced). `cost_bound`: a lower
    bound on the cost of any plan placing value >= `value`. `status`: "optimal",
    "feasible" (a gap may remain), "infeasible" (the required items cannot all be
    placed) or "unknown" (no plan in time; nothing placed)."""

    choice: Ints
    value: int
    cost: int
    cost_bound: int
    value_bound: int
    status: str
    seconds: float


def solve(
    problem: Problem,
    time_limit_s: float = 10.0,
    seed: int = 0,
    called_off: Callable[[], bool] | None = None,
) -> Solution:
    """Solve within about `time_limit_s` seconds of wall time (deterministic steps are
    seeded); raises InvalidInputError for bad arrays. Once `called_off()` is True (the
    caller has gone) every stage stops and the best plan so far is returned."""
    with cancellable(called_off):
        return _solve(problem, time_limit_s, seed)


def _solve(problem: Problem, time_limit_s: float, seed: int) -> Solution:
    start = time.monotonic()
    check_problem(problem)
    deadline = start + max(0.0, time_limit_s) * 0.95 - 0.02
    n_options = np.diff(problem.item_ptr)
    if np.any(problem.required & (n_options == 0)):
        return _empty(problem, "infeasible", start)
    # Options that can never fit (a use above a capacity) are dropped once, here.
    too_big = problem.use_amt > problem.capacity[problem.use_res]
    fits = np.ones(problem.n_options, dtype=np.bool_)
    fits[problem.use_option[too_big]] = False
    work, index = (
        problem.restrict(fits) if not fits.all() else (problem, np.arange(problem.n_options))
    )
    if np.any(work.required & (np.diff(work.item_ptr) == 0)):
        return _empty(problem, "infeasible", start)
    pick, value_top, bound = _pipeline(work, deadline, seed)
    if pick is None:
        status = "infeasible" if bound == SAFE_INFEASIBLE else "unknown"
        return _empty(problem, status, start)
    value, cost = work.value_of(pick), work.cost_of(pick)
    bound = min(bound, cost)
    global_pick = translate(pick, index)
    choice = np.where(global_pick >= 0, global_pick - problem.item_ptr[:-1], -1)
    status = "optimal" if value >= value_top and cost <= bound else "feasible"
    return Solution(choice, value, cost, bound, value_top, status, time.monotonic() - start)


def _pipeline(problem: Problem, deadline: float, seed: int) -> tuple[Ints | None, int, int]:
    """(best pick or None, value upper bound, cost bound at the pick's value)."""
    total = int(problem.value.sum())
    value_fixed = bool(np.all(problem.required | (problem.value == 0)))
    best = _feasible(problem, fill(problem, empty_pick(problem)))  # always whole: the fallback
    value_top = total
    value_x: Floats | None = None
    rounded: Ints | None = None  # the value LP's rounding, where repacking starts
    # An LP that cannot finish in its share of the time is replaced by Lagrangian ascent.
    lp_seconds = LP_SECONDS_20K * (problem.n_options / 20_000) ** LP_GROWTH
    lp_fits = lp_seconds <= LP_SHARE * (deadline - now())
    if not lp_fits and best is not None:
        return _without_lp(problem, best, deadline, seed)
    if not value_fixed and (best is None or problem.value_of(best) < total):
        value_lp = max_value_lp(problem, share(deadline, LP_SHARE))
        if value_lp.infeasible:
            return None, 0, SAFE_INFEASIBLE
        value_top = value_bound(problem, value_lp)
        value_x = value_lp.x
        rounded = _feasible(problem, fill(problem, round_lp(problem, value_lp.x), None, deadline))
        best = _better(problem, best, rounded)
    if best is None and problem.n_options <= CP_SAT_OPTIONS:
        # Required items the greedy could not pack: CP-SAT's first solution repairs it.
        first = solve_cpsat(problem, share(deadline, 0.3), seed=seed, first_only=True)
        if first.infeasible:
            return None, 0, SAFE_INFEASIBLE
        best = first.pick
    if best is not None and not value_fixed:
        # From the LP's rounding, even below the greedy: the LP knows which items go
        # together (measured on 16 workloads, repacked: 99.4-100% of the LP's work from
        # the rounding, 97.4-99.8% from the greedy).
        best = _better(
            problem, best, _more_work(problem, best if rounded is None else rounded, deadline)
        )
    # The cost LP at the work already reached: its duals bound the cost there.
    floor = problem.value_of(best) if best is not None else 0
    lp_started = time.monotonic()
    cost_lp = min_cost_lp(problem, floor, share(deadline, LP_SHARE))
    # The search stops early enough to solve the cost LP again at the work it reaches.
    search_deadline = deadline - FINAL_LP_MARGIN * (time.monotonic() - lp_started)
    if cost_lp.infeasible and value_fixed:
        return None, 0, SAFE_INFEASIBLE
    if cost_lp.x is not None:
        score = reduced_costs(problem, cost_lp, 0.0)
        rounded = fill(problem, round_lp(problem, cost_lp.x), score, deadline)
        best = _better(problem, best, _feasible(problem, rounded))
    if best is None:
        return None, value_top, 0
    best = improve(problem, best, share(deadline, 0.3))

    # Restrict to the options that can matter, then search.
    reached = problem.value_of(best)
    bound = cost_bound(problem, cost_lp, reached)[0]
    # Reduced-cost fixing holds at the incumbent's work; if more may be placed, every
    # option stays possible. Fixing only removes options of no plan cheaper than the
    # incumbent: the incumbent stays in.
    possible = np.ones(problem.n_options, dtype=np.bool_)
    if reached >= value_top:
        possible = ~useless_options(problem, cost_lp, reached, problem.cost_of(best))
    possible[best[best >= 0]] = True
    if reached < value_top:
        # Searching for more work pays on large models only with time to spare: short
        # runs measured better giving all the time to the cheapest placing of the items.
        search = problem.n_options <= SMALL_OPTIONS or deadline - now() >= SEARCH_MIN_S
    else:
        # Cost alone: CP-SAT on every option fixing leaves when it can take them whole
        # (exact), else the polish below on the items placed.
        search = int(possible.sum()) <= CP_SAT_OPTIONS and problem.cost_of(best) > bound
    if search:
        keep = possible  # exact, when CP-SAT can take it whole
        if int(possible.sum()) > CP_SAT_OPTIONS:
            keep = _promising(problem, cost_lp, value_x, best, reached, possible)
        # What CP-SAT proves holds for the whole problem when nothing but provably
        # useless options was left out.
        exact = not np.any(possible & ~keep)
        sub, index = problem.restrict(keep)
        hint = translate(best, inverse(index, problem.n_options))
        if reached < value_top:  # else the search is for cost alone, over every item
            search_deadline = min(search_deadline, share(deadline, SEARCH_SHARE))
        if sub.n_options <= CP_SAT_OPTIONS:
            if reached >= value_top:
                lp_x = cost_lp.x[index] if cost_lp.x is not None else None
                found = _cost_search(sub, hint, value_top, search_deadline, seed, lp_x)
            else:
                found = solve_cpsat(
                    sub, search_deadline, hint=hint, value_upper=value_top, seed=seed
                )
            found_pick = found.pick
            if exact and found.value_optimal and found.pick is not None:
                value_top = min(value_top, found.floor)
            if exact and found.cost_bound is not None and found.floor >= value_top:
                bound = max(bound, found.cost_bound)
        else:
            lp_x = cost_lp.x[index] if cost_lp.x is not None else None
            # For more work, neighbourhoods of pools that share items (measured at 8 s on
            # 16 workloads: mean work +0.05 points, lowest 99.13% -> 99.34%).
            linked = reached < value_top
            found_pick = lns(sub, hint, lp_x, search_deadline, seed, linked=linked)
        if found_pick is not None:
            mapped = translate(found_pick, index)
            best = _better(problem, best, _feasible(problem, mapped))
    reached = problem.value_of(best)
    bound = max(bound, cost_bound(problem, cost_lp, reached)[0])
    more = not value_fixed and reached < value_top  # work that may still be placed
    if bound < problem.cost_of(best):
        # The cost LP at the work reached bounds the cost there; the rest of the time
        # goes to the cheapest placing of exactly the items the plan places.
        final_lp = cost_lp if reached == floor else min_cost_lp(problem, reached, deadline)
        bound = max(bound, cost_bound(problem, final_lp, reached)[0])
        if bound < problem.cost_of(best):
            best = polish(problem, best, share(deadline, 1 - FINAL_REPACK * more), seed)
    if more:
        # Polish moved items about: room it left may now take more work.
        packed = repack(problem, best, deadline)
        if problem.value_of(packed) > problem.value_of(best):
            best = improve(problem, packed, deadline)
            bound = max(bound, cost_bound(problem, cost_lp, problem.value_of(best))[0])
    if bound < problem.cost_of(best):
        best = exchange(problem, best, deadline)  # what the repacking left dear
    return best, value_top, bound


def _without_lp(
    problem: Problem, best: Ints, deadline: float, seed: int
) -> tuple[Ints | None, int, int]:
    """For models too large for the LP in time: Lagrangian prices, a greedy priced by
    them, exchanges and local search; the bound comes from the same prices on every
    option."""
    best = _more_work(problem, best, deadline)
    floor = problem.value_of(best)
    upper = problem.cost_of(best)
    prices = lagrangian_prices(problem, floor, upper, share(deadline, LAGRANGE_SHARE))
    score = reduced_costs(problem, prices, 0.0)
    best = _better(problem, best, fill(problem, empty_pick(problem), score, deadline))
    best = swap(problem, best, share(deadline, MOVE_SHARE))
    best = exchange(problem, best, share(deadline, MOVE_SHARE))
    keep = problem.ranked(score) < KEEP_PER_ITEM
    keep[best[best >= 0]] = True
    sub, index = problem.restrict(keep)
    hint = translate(best, inverse(index, problem.n_options))
    found = lns(sub, hint, None, share(deadline, 1 - FINAL_REPACK) - 0.05, seed)
    best = _better(problem, best, _feasible(problem, translate(found, index)))
    best = _better(problem, best, repack(problem, best, deadline))
    total = int(problem.value.sum())
    return best, total, cost_bound(problem, prices, problem.value_of(best))[0]


def _more_work(problem: Problem, best: Ints, deadline: float) -> Ints:
    """More work first: each resource's most valuable contents, then any room filled."""
    packed = repack(problem, best, share(deadline, REPACK_SHARE))
    return _better(problem, best, fill(problem, packed, None, deadline))


def _promising(
    problem: Problem,
    prices: Prices,
    value_x: Floats | None,
    best: Ints,
    reached: int,
    possible: np.ndarray,
) -> np.ndarray:
    """Options worth searching: `possible` ones among each item's KEEP_PER_ITEM best by
    reduced cost, plus those either LP uses and the incumbent's."""
    _, mu = cost_bound(problem, prices, reached)
    reduced = reduced_costs(problem, prices, mu)
    keep: np.ndarray = (problem.ranked(reduced) < KEEP_PER_ITEM) & possible
    for x in (prices.x, value_x):
        if x is not None:
            keep |= x > 1e-6
    keep[best[best >= 0]] = True
    return keep


def _cost_search(
    problem: Problem,
    hint: Ints,
    value_top: int,
    deadline: float,
    seed: int,
    lp_x: Floats | None = None,
) -> CpResult:
    """The cheapest plan at the proven work, by two searches racing on one core each:
    SCIP in a thread, and CP-SAT then neighbourhoods here. The first to prove its plan
    optimal stops the other; the better plan and the higher bound are kept."""
    proved = threading.Event()
    with also_stopped_by(proved), ThreadPoolExecutor(1) as pool:
        here = contextvars.copy_context()  # the thread sees this search's stop hooks
        mip = pool.submit(here.run, _proving, problem, value_top, deadline, hint, proved)
        try:
            found = _cpsat_then_neighbourhoods(problem, hint, value_top, deadline, seed, lp_x)
        finally:
            proved.set()
        other = mip.result()
    pick, bound = found.pick, found.cost_bound
    if other.pick is not None and (
        pick is None or problem.cost_of(other.pick) < problem.cost_of(pick)
    ):
        pick = other.pick
    if other.cost_bound is not None:
        bound = other.cost_bound if bound is None else max(bound, other.cost_bound)
    return replace(found, pick=pick, cost_bound=bound)


def _proving(
    problem: Problem, floor: int, deadline: float, hint: Ints, proved: threading.Event
) -> MipResult:
    """SCIP's search; once it proves its plan optimal, the race is over."""
    result = solve_mip(problem, floor, deadline, hint)
    if result.optimal:
        proved.set()
    return result


def _cpsat_then_neighbourhoods(
    problem: Problem, hint: Ints, value_top: int, deadline: float, seed: int, lp_x: Floats | None
) -> CpResult:
    """CP-SAT on the whole model for part of the time; then, if its gap is still wide,
    neighbourhoods guided by the LP `lp_x` (or of linked pools) from its plan (else
    CP-SAT again), and CP-SAT from their plan with the time they leave. One worker:
    SCIP has the other core."""
    until = share(deadline, EXACT_SHARE)
    found = solve_cpsat(problem, until, hint=hint, value_upper=value_top, seed=seed, workers=1)
    if found.pick is None or found.cost_bound is None:
        return found
    cost = problem.cost_of(found.pick)
    if found.cost_bound >= cost - WIDE_GAP * abs(cost):
        # Proven, or close to a proof: the rest of the time to CP-SAT, from its plan.
        walked = found.pick
    else:
        walked = lns(problem, found.pick, lp_x, deadline, seed, linked=True)
    bound = found.cost_bound
    if now() < deadline - 0.1 and bound < problem.cost_of(walked):
        again = solve_cpsat(
            problem, deadline, hint=walked, value_upper=value_top, seed=seed, workers=1
        )
        if again.pick is not None and problem.cost_of(again.pick) < problem.cost_of(walked):
            walked = again.pick
        if again.cost_bound is not None:  # no proof: keep the first (costs may be < 0)
            bound = max(bound, again.cost_bound)
    return replace(found, pick=walked, cost_bound=bound)


def _feasible(problem: Problem, pick: Ints) -> Ints | None:
    return pick if bool(np.all(pick[problem.required] >= 0)) else None


@overload
def _better(problem: Problem, a: Ints, b: Ints | None) -> Ints: ...
@overload
def _better(problem: Problem, a: Ints | None, b: Ints | None) -> Ints | None: ...
def _better(problem: Problem, a: Ints | None, b: Ints | None) -> Ints | None:
    """The lexicographically better plan: more value, then less cost."""
    if a is None or b is None:
        return b if a is None else a
    key_a = (problem.value_of(a), -problem.cost_of(a))
    key_b = (problem.value_of(b), -problem.cost_of(b))
    return b if key_b > key_a else a


def _empty(problem: Problem, status: str, start: float) -> Solution:
    choice = np.full(problem.n_items, -1, dtype=np.int64)
    return Solution(choice, 0, 0, 0, 0, status, time.monotonic() - start)
