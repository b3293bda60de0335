"""The LP relaxation (GLOP) and the bounds and reduced costs its duals prove.

The LP answers in floating point, so its objective is not itself a proof. Any
non-negative resource prices (and value price mu) give a valid Lagrangian bound, though,
and LP duals are the best such prices; the bound is evaluated over EVERY option in
float64 with a safety margin and rounded to the safe side (the data are integers), so it
stays valid whatever options the LP saw or however it ended.

Two LPs mirror the lexicographic objective: the value LP bounds the value from above
(its prices are in value units); the cost LP at a value floor V bounds the cost of
anything placing at least V (prices in cost units; mu prices the value floor).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ortools.linear_solver.python import model_builder_helper as mbh

from router.solve.clock import now, stoppable
from router.solve.problem import Bools, Floats, Ints, Problem, grouped

MARGIN = 1e-9  # relative safety margin on float bounds


def safe_ceil(bound: float) -> int:
    """A float lower bound on an integer cost, rounded up with a margin for the float
    error of whoever computed it (an LP, CP-SAT, SCIP): still a valid bound."""
    return math.ceil(bound - MARGIN * abs(bound) - 1e-6)


@dataclass(frozen=True, eq=False)
class Prices:
    """An LP's fractional solution (None if none) and its non-negative duals."""

    x: Floats | None
    resource: Floats  # per resource
    mu: float  # per unit of value
    infeasible: bool = False  # proven: the required items cannot all be placed
    optimal: bool = False  # the LP was solved to optimality (x is then an LP optimum)


def max_value_lp(problem: Problem, deadline: float) -> Prices:
    """Maximise placed value; prices in value units (mu = 1).

    A tiny cost term breaks ties between equally valuable optima towards cheap ones; it
    cannot weaken the bound, which any non-negative prices make valid."""
    values = problem.value[problem.option_item].astype(np.float64)
    cost = problem.cost.astype(np.float64)
    tie = 1e-4 * float(values.min(initial=1.0)) / (float(np.abs(cost).max(initial=0.0)) + 1.0)
    return _solve(problem, tie * cost - values, None, deadline, value_units=True)


def min_cost_lp(problem: Problem, floor: int, deadline: float) -> Prices:
    """Minimise cost with placed value >= floor (the second lexicographic stage)."""
    return _solve(problem, problem.cost.astype(np.float64), floor, deadline, value_units=False)


def reduced_costs(problem: Problem, prices: Prices, mu: float) -> Floats:
    """cost + priced resource use - mu * value, per option."""
    reduced = problem.cost.astype(np.float64)
    if len(problem.use_res):
        reduced += problem.per_option(prices.resource[problem.use_res] * problem.use_amt)
    return reduced - mu * problem.value[problem.option_item]


def cost_bound(problem: Problem, prices: Prices, floor: int) -> tuple[int, float]:
    """A valid lower bound on the cost of any assignment placing value >= floor, and the
    value price that gives it (max over mu of the Lagrangian; concave, golden section)."""
    base = problem.item_min(reduced_costs(problem, prices, 0.0))
    if np.isinf(base[problem.required]).any():
        return SAFE_INFEASIBLE, prices.mu
    value = problem.value.astype(np.float64)
    fixed = -float(prices.resource @ problem.capacity.astype(np.float64))

    def at(mu: float) -> float:
        best = base - mu * value
        best = np.where(problem.required, best, np.minimum(best, 0.0))
        return float(best.sum()) + fixed + mu * floor

    lo, hi = 0.0, max(2.0 * prices.mu, 1e-9)
    golden = (math.sqrt(5) - 1) / 2
    for _ in range(50):
        a, b = hi - golden * (hi - lo), lo + golden * (hi - lo)
        if at(a) < at(b):
            lo = a
        else:
            hi = b
    mu = max([0.0, prices.mu, (lo + hi) / 2], key=at)
    bound = at(mu)
    return safe_ceil(bound), mu


SAFE_INFEASIBLE = 2**62  # the "bound" when no assignment places every required item


def value_bound(problem: Problem, prices: Prices) -> int:
    """A valid upper bound on placed value from prices in value units."""
    total = int(problem.value.sum())
    if prices.mu <= 0:
        return total
    scaled = Prices(None, prices.resource / prices.mu, 1.0)
    gain = -problem.item_min(reduced_costs(problem, scaled, 1.0) - problem.cost)
    gain = np.where(problem.required, gain, np.maximum(gain, 0.0))
    if np.isinf(gain[problem.required]).any():
        return total
    bound = float(gain.sum()) + float(scaled.resource @ problem.capacity)
    return min(total, math.floor(bound + MARGIN * abs(bound) + 1e-6))


def useless_options(problem: Problem, prices: Prices, floor: int, cost_upper: int) -> Bools:
    """Options no assignment with value >= floor and cost < cost_upper can use.

    Reduced-cost fixing: forcing item i onto option k raises the Lagrangian bound by
    (reduced_k - best_i); when that reaches cost_upper, option k is useless."""
    bound, mu = cost_bound(problem, prices, floor)
    reduced = reduced_costs(problem, prices, mu)
    best = problem.item_min(reduced)
    best = np.where(problem.required, best, np.minimum(best, 0.0))
    forced = bound + reduced - best[problem.option_item]
    result: Bools = forced - (MARGIN * np.abs(forced) + 1e-6) >= cost_upper
    return result


def _solve(
    problem: Problem, objective: Floats, floor: int | None, deadline: float, value_units: bool
) -> Prices:
    """Minimise `objective` over the LP (value >= floor when given) with GLOP."""
    n_i, n_r, n_o = problem.n_items, problem.n_resources, problem.n_options
    none = Prices(None, np.zeros(n_r), 1.0 if value_units else 0.0)
    seconds = deadline - now()
    if seconds <= 0 or n_o == 0:
        return none
    model = _lp_model(problem, objective, floor)
    solver = mbh.ModelSolverHelper("glop")
    solver.set_time_limit_in_seconds(seconds)
    if not value_units:
        solver.set_solver_specific_parameters("use_dual_simplex: true")  # measured faster
    with stoppable(solver.interrupt_solve):
        solver.solve(model)
    if solver.status() == mbh.SolveStatus.INFEASIBLE:
        return Prices(None, np.zeros(n_r), 0.0, infeasible=True)
    if not solver.has_solution():
        return none
    x = np.asarray(solver.variable_values(), dtype=np.float64)
    duals = np.asarray(solver.dual_values(), dtype=np.float64)
    # GLOP's duals for a minimisation: <= rows are <= 0, the >= value row is >= 0.
    resource = np.maximum(0.0, -duals[n_i : n_i + n_r])
    mu = 1.0 if value_units else (max(0.0, float(duals[n_i + n_r])) if floor is not None else 0.0)
    return Prices(x, resource, mu, optimal=solver.status() == mbh.SolveStatus.OPTIMAL)


def _lp_model(problem: Problem, objective: Floats, floor: int | None) -> mbh.ModelBuilderHelper:
    """One variable per option in [0, 1] and the rows of `model_rows`. Term by term,
    appended: the helper's bulk entry point needs scipy.sparse (0.2 s to import), and
    setting a coefficient searches its row first, quadratic in the row's length (the
    value row of 250k options took 15 s to build; appended, 0.4 s for the whole model)."""
    n_o = problem.n_options
    model: Any = mbh.ModelBuilderHelper()  # its bundled stubs mistype the array arguments
    model.add_var_array_with_bounds(np.zeros(n_o), np.ones(n_o), np.zeros(n_o, np.bool_), "")
    model.set_objective_coefficients(list(range(n_o)), objective.tolist())
    for lower, upper, options, coefficients in model_rows(problem, floor):
        row = _row(model, lower, upper)
        for option, coefficient in zip(options, coefficients, strict=True):
            model.add_term_to_constraint(row, option, coefficient)
    built: mbh.ModelBuilderHelper = model
    return built


def model_rows(
    problem: Problem, floor: int | None
) -> Iterator[tuple[float, float, Sequence[int], Sequence[float]]]:
    """The constraints over one variable per option, as (lower, upper, options,
    coefficients): per item at most one option (exactly one if required), per resource
    its capacity, and the value floor when given. The LP here and the integer model
    (router.solve.mip) are both built from these."""
    ptr = problem.item_ptr.tolist()
    for i, required in enumerate(problem.required.tolist()):
        lo, hi = ptr[i], ptr[i + 1]
        yield (1.0 if required else 0.0), 1.0, range(lo, hi), [1.0] * (hi - lo)
    by_resource, bounds = grouped(problem.use_res, problem.n_resources)
    options = problem.use_option[by_resource].tolist()
    amounts = problem.use_amt[by_resource].astype(np.float64).tolist()
    for r, capacity in enumerate(problem.capacity.astype(np.float64).tolist()):
        lo, hi = bounds[r], bounds[r + 1]
        yield -math.inf, capacity, options[lo:hi], amounts[lo:hi]
    if floor is not None:
        values = problem.value[problem.option_item].astype(np.float64).tolist()
        yield float(floor), math.inf, range(problem.n_options), values


def _row(model: mbh.ModelBuilderHelper, lower: float, upper: float) -> int:
    row = model.add_linear_constraint()
    model.set_constraint_lower_bound(row, lower)
    model.set_constraint_upper_bound(row, upper)
    return row


def lagrangian_prices(
    problem: Problem, floor: int, upper: int, deadline: float, start: Prices | None = None
) -> Prices:
    """Prices for the cost bound at value >= floor by subgradient ascent, for models whose
    LP would not finish in time: each step is one pass over the options.

    `upper` is the cost of a plan placing >= floor (Polyak's step needs a target). Each
    price moves in units of its typical size (_price_scales): unscaled, the value row's
    subgradient (~1e9) swamped the resources' (~1e7), the resource prices crawled, and at
    10,000 jobs the bound stalled 14 points below the LP's (now 3-7). The step doubles
    after GROW_STEPS better bounds in a row and halves after STALE_STEPS without. The best
    prices seen are returned; the bound they give is valid like any other."""
    capacity = problem.capacity.astype(np.float64)
    value = problem.value.astype(np.float64)
    amounts = problem.use_amt.astype(np.float64)
    scale = _price_scales(problem)
    typical_mu = _start_mu(problem)
    scale_mu = max(typical_mu, 1e-9)
    resource = np.zeros(problem.n_resources) if start is None else start.resource.copy()
    mu = typical_mu if start is None else start.mu
    best = (-math.inf, Prices(None, resource.copy(), mu))
    step, stale, better = 2.0, 0, 0
    while now() < deadline:
        prices = Prices(None, resource, mu)
        reduced = reduced_costs(problem, prices, mu)
        low = problem.item_min(reduced)
        take = problem.required | (low < 0)
        bound = float(np.where(take, low, 0.0).sum()) - float(resource @ capacity) + mu * floor
        if bound > best[0]:
            best, stale, better = (bound, Prices(None, resource.copy(), mu)), 0, better + 1
            if better >= GROW_STEPS:
                step, better = step * 2, 0
        else:
            stale, better = stale + 1, 0
            if stale >= STALE_STEPS:
                step, stale = step / 2, 0
        # Each taken item's best option, and the subgradient of the bound at these prices.
        first = _argmin_per_item(problem, reduced, low, take)
        chosen = np.zeros(problem.n_options, dtype=np.bool_)
        chosen[first] = True
        on = chosen[problem.use_option]
        used = np.bincount(problem.use_res[on], weights=amounts[on], minlength=problem.n_resources)
        g_resource = (used - capacity) * scale
        g_mu = (floor - float(value[problem.option_item[first]].sum())) * scale_mu
        norm = float(g_resource @ g_resource) + g_mu * g_mu
        if norm <= 0 or step < 1e-6:
            break
        t = step * max(upper - bound, 1e-9 * abs(upper) + 1.0) / norm
        resource = np.maximum(0.0, resource + t * g_resource * scale)
        mu = max(0.0, mu + t * g_mu * scale_mu)
    return best[1]


STALE_STEPS = 5  # ascent steps without a better bound before the step halves
GROW_STEPS = 3  # better bounds in a row before it doubles (measured at 10,000 x 40)


def _price_scales(problem: Problem) -> Floats:
    """A typical price per unit of each resource (the median cost per unit over the
    options using it): the units the ascent moves resource prices in (value's is
    _start_mu)."""
    per_unit = np.abs(problem.cost[problem.use_option]) / np.maximum(problem.use_amt, 1)
    order, bounds = grouped(problem.use_res, problem.n_resources)
    scale = np.ones(problem.n_resources)
    for r in range(problem.n_resources):
        if bounds[r + 1] > bounds[r]:
            scale[r] = max(float(np.median(per_unit[order[bounds[r] : bounds[r + 1]]])), 1.0)
    return scale


def _start_mu(problem: Problem) -> float:
    """A first price of value: the median cost per unit of value over the options."""
    ratio = problem.cost / np.maximum(problem.value[problem.option_item], 1)
    return float(np.median(ratio)) if len(ratio) else 0.0


def _argmin_per_item(problem: Problem, reduced: Floats, low: Floats, take: Bools) -> Ints:
    """For each taken item, the (first) option reaching its lowest reduced cost."""
    at_low = reduced <= low[problem.option_item]
    candidates = np.flatnonzero(at_low & take[problem.option_item])
    items, first = np.unique(problem.option_item[candidates], return_index=True)
    del items
    return candidates[first]
