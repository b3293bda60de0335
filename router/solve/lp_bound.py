"""LP relaxation of the grouped problem with GLOP, and provably valid bounds from its duals.

GLOP answers in floating point, so its objective is not itself a proof. Any
non-negative resource prices (and value price mu) give a valid Lagrangian bound,
though, and LP duals are the best such prices; the bound is evaluated over every option
in float64 with a safety margin and rounded towards the safe side (integer data).

Two LPs mirror the lexicographic objective: the value LP bounds the value from above
(its prices are in value units); the cost LP at a value floor V bounds the cost of
anything placing at least V (its prices are in cost units, mu prices the value floor).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from ortools.linear_solver.python import model_builder_helper as mbh

from router.solve.flat import BoolArray, Flat, FloatArray

_MARGIN = 1e-9  # relative safety margin on float bounds


@dataclass(frozen=True, slots=True, eq=False)
class LpResult:
    """An LP solve: fractional solution (None if none), resource prices and the value price."""

    x: FloatArray | None
    prices: FloatArray  # zeros when GLOP gave no duals (still a valid, weak bound)
    mu: float
    infeasible: bool = False  # proven: no assignment places every required item
    floor: int | None = None  # the value floor of a cost LP


def max_value_lp(flat: Flat, deadline: float) -> LpResult:
    """Maximise placed value over the LP; its prices are in value units (mu = 1).

    A tiny cost term breaks ties between equally valuable LP optima towards cheap ones;
    it cannot weaken the bound, which any non-negative prices make valid.
    """
    values = flat.value[flat.option_group].astype(np.float64)
    cost = flat.cost.astype(np.float64)
    tie = 1e-3 * float(values.min(initial=1.0)) / (float(np.abs(cost).max(initial=0.0)) + 1.0)
    solved = _solve(flat, tie * cost - values, None, deadline, dual=False)  # primal: faster
    if isinstance(solved, str):
        return LpResult(None, np.zeros(flat.n_resources), 0.0, True)
    if solved is None:
        return LpResult(None, np.zeros(flat.n_resources), 1.0)
    x, prices, _ = solved
    return LpResult(x, prices, 1.0)


def min_cost_lp(flat: Flat, value_floor: int, deadline: float) -> LpResult:
    """Minimise cost over the LP with value >= value_floor (exact second stage)."""
    cost = flat.cost.astype(np.float64)
    solved = _solve(flat, cost, value_floor, deadline, dual=True)  # dual: measured faster
    if isinstance(solved, str):
        return LpResult(None, np.zeros(flat.n_resources), 0.0, True)
    if solved is None:
        return LpResult(None, np.zeros(flat.n_resources), 0.0)
    x, prices, mu = solved
    return LpResult(x, prices, mu, floor=value_floor)


def value_upper_bound(flat: Flat, lp: LpResult) -> int:
    """A valid upper bound on placed value, from the LP's prices in value units (/ mu)."""
    values = flat.value[flat.option_group].astype(np.float64)
    scale = 1.0 / lp.mu if lp.mu > 0 else 0.0
    best = -lagrangian(flat, -values, lp.prices * scale)[0]
    total = float(flat.value @ flat.count)
    return math.floor(min(best, total) + _MARGIN * abs(best) + 1e-6)


def cost_lower_bound(flat: Flat, lp: LpResult, value_floor: int) -> tuple[int, float]:
    """A valid lower bound on cost for value >= value_floor, and the mu that gives it.

    With the resource prices fixed, each group's best priced option does not depend on
    mu (its value is per group), so the bound is a cheap concave function of mu over
    groups alone; a golden-section search over [0, 2 * lp.mu] (plus 0 and the LP's own
    mu) picks a good one.
    """
    base = flat.group_min(lagrangian(flat, flat.cost.astype(np.float64), lp.prices)[1])
    if np.isinf(base[flat.required]).any():
        return 2**62, lp.mu
    count = flat.count.astype(np.float64)
    value = flat.value.astype(np.float64)
    fixed = -float(lp.prices @ flat.capacity.astype(np.float64))

    def at(mu: float) -> float:
        best = base - mu * value
        best = np.where(flat.required, best, np.minimum(best, 0.0))
        return float(best @ count) + fixed + mu * value_floor

    candidates = [0.0, lp.mu]
    lo, hi = 0.0, max(2.0 * lp.mu, 1e-9)
    golden = (math.sqrt(5) - 1) / 2
    for _ in range(60):
        a, b = hi - golden * (hi - lo), lo + golden * (hi - lo)
        if at(a) < at(b):
            lo = a
        else:
            hi = b
    candidates.append((lo + hi) / 2)
    best_mu = max(candidates, key=at)
    bound = at(best_mu)
    return math.ceil(bound - _MARGIN * abs(bound) - 1e-6), best_mu


def lagrangian(
    flat: Flat, option_obj: FloatArray, prices: FloatArray, mu: float = 0.0, value_floor: int = 0
) -> tuple[float, FloatArray]:
    """A valid lower bound on min option_obj under capacities (and value >= value_floor).

    For prices >= 0 and mu >= 0 every group picks its best reduced option (optional
    groups may pick nothing). Returns the bound and the reduced objective per option;
    the bound is +inf when a required group has no option.
    """
    reduced = option_obj - mu * flat.value[flat.option_group]
    if len(flat.use_res):
        np.add.at(reduced, flat.use_option(), prices[flat.use_res] * flat.use_amt)
    best = flat.group_min(reduced)
    if np.isinf(best[flat.required]).any():
        return math.inf, reduced
    best = np.where(flat.required, best, np.minimum(best, 0.0))
    total = best @ flat.count.astype(np.float64)
    total -= prices @ flat.capacity.astype(np.float64)
    return float(total + mu * value_floor), reduced


def banned_options(
    flat: Flat, lp: LpResult, mu: float, value_floor: int, cost_upper: int
) -> BoolArray:
    """Options that no assignment with value >= value_floor and cost < cost_upper uses.

    Reduced-cost fixing: forcing one unit of group g onto option k raises the Lagrangian
    bound by (reduced_k - best_g); if that reaches cost_upper, option k is useless.
    """
    bound, reduced = lagrangian(flat, flat.cost.astype(np.float64), lp.prices, mu, value_floor)
    if bound == math.inf:
        return np.zeros(flat.n_options, dtype=np.bool_)
    best = flat.group_min(reduced)
    best = np.where(flat.required, best, np.minimum(best, 0.0))
    forced = bound + reduced - best[flat.option_group]
    result: BoolArray = forced - (_MARGIN * np.abs(forced) + 1e-6) >= cost_upper
    return result


def _solve(
    flat: Flat, objective: FloatArray, value_floor: int | None, deadline: float, dual: bool
) -> tuple[FloatArray, FloatArray, float] | str | None:
    """Minimise over the LP with GLOP: (x, resource prices, value price), "infeasible",
    or None (out of time, or no answer)."""
    n_g, n_r, n_o = flat.n_groups, flat.n_resources, flat.n_options
    seconds = deadline - time.monotonic()
    if seconds <= 0 or n_o == 0:
        return None
    rows = np.concatenate([flat.option_group, n_g + flat.use_res])
    cols = np.concatenate([np.arange(n_o), flat.use_option()])
    data = np.concatenate([np.ones(n_o), flat.use_amt.astype(np.float64)])
    count = flat.count.astype(np.float64)
    lower = [np.where(flat.required, count, 0.0), np.full(n_r, -np.inf)]
    upper = [count, flat.capacity.astype(np.float64)]
    n_rows = n_g + n_r
    if value_floor is not None:
        rows = np.concatenate([rows, np.full(n_o, n_rows)])
        cols = np.concatenate([cols, np.arange(n_o)])
        data = np.concatenate([data, flat.value[flat.option_group].astype(np.float64)])
        lower.append(np.array([float(value_floor)]))
        upper.append(np.array([np.inf]))
        n_rows += 1
    matrix = sp.csr_matrix((data, (rows, cols)), shape=(n_rows, n_o))
    model: Any = mbh.ModelBuilderHelper()  # its bundled stubs mistype the array arguments
    model.fill_model_from_sparse_data(
        np.zeros(n_o),
        count[flat.option_group],
        objective,
        np.concatenate(lower),
        np.concatenate(upper),
        matrix,
    )
    solver = mbh.ModelSolverHelper("glop")
    solver.set_time_limit_in_seconds(seconds)
    if dual:
        solver.set_solver_specific_parameters("use_dual_simplex: true")
    solver.solve(model)
    if solver.status() == mbh.SolveStatus.INFEASIBLE:
        return "infeasible"
    if not solver.has_solution():
        return None
    x = np.asarray(solver.variable_values(), dtype=np.float64)
    duals = np.asarray(solver.dual_values(), dtype=np.float64)
    # GLOP's duals for a minimisation: <= rows are <= 0, the >= value row is >= 0.
    prices = np.maximum(0.0, -duals[n_g : n_g + n_r])
    mu = max(0.0, float(duals[n_g + n_r])) if value_floor is not None else 0.0
    return x, prices, mu
