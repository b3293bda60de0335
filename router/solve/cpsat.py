"""CP-SAT on a (restricted) problem: one Boolean per option, value first, then cost.

Stage 1 maximises the placed value; stage 2 keeps `value >= the best found` and
minimises cost. Two solves instead of one big-M objective keep the order exact and
avoid int64 overflow of `value * M + cost`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from router.solve.clock import now, stoppable
from router.solve.problem import UNPLACED, Ints, Problem

VALUE_SHARE = 0.4  # of the time left, at most, for stage 1
SMALL_OPTIONS = 5_000  # models up to this size get full presolve and cuts


@dataclass(frozen=True, eq=False)
class CpResult:
    """The best pick found (None if none) and what CP-SAT proved on the model it saw.

    `cost_bound` is valid (on that model) for assignments with value >= `floor`."""

    pick: Ints | None
    floor: int
    value_optimal: bool
    cost_bound: int | None
    infeasible: bool


def solve_cpsat(
    problem: Problem,
    deadline: float,
    *,
    hint: Ints | None = None,
    value_upper: int | None = None,
    seed: int = 0,
    workers: int = 2,
    first_only: bool = False,
) -> CpResult:
    """Solve until `deadline` (time.monotonic()); never raises on timeout.

    `hint`: a feasible assignment to start from. `value_upper`: a proven bound on the
    value (reaching it skips stage 1). `first_only`: stop at the first solution."""
    # Data.
    n_options = problem.n_options
    option_value = problem.value[problem.option_item]
    # Model and variables.
    model = cp_model.CpModel()
    x = [model.new_bool_var(f"x{k}") for k in range(n_options)]
    # Constraints: one option per item (exactly one if required), capacities.
    for item in range(problem.n_items):
        lo, hi = int(problem.item_ptr[item]), int(problem.item_ptr[item + 1])
        if problem.required[item]:
            model.add_exactly_one(x[lo:hi])
        elif hi - lo > 1:
            model.add_at_most_one(x[lo:hi])
    order = np.argsort(problem.use_res, kind="stable")
    starts = np.searchsorted(problem.use_res[order], np.arange(problem.n_resources + 1))
    for r in range(problem.n_resources):
        entries = order[starts[r] : starts[r + 1]]
        amounts = problem.use_amt[entries]
        if int(amounts.sum()) <= int(problem.capacity[r]):
            continue  # cannot bind
        terms = [x[int(k)] for k in problem.use_option[entries]]
        model.add(
            cp_model.LinearExpr.weighted_sum(terms, amounts.tolist()) <= int(problem.capacity[r])
        )
    value_expr = cp_model.LinearExpr.weighted_sum(x, option_value.tolist())
    cost_expr = cp_model.LinearExpr.weighted_sum(x, problem.cost.tolist())
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    solver.parameters.stop_after_first_solution = first_only

    if n_options > SMALL_OPTIONS:
        # Light presolve: measured, full presolve spent seconds on models of 20k options.
        solver.parameters.symmetry_level = 0
        solver.parameters.max_presolve_iterations = 1
        solver.parameters.cp_model_probing_level = 0
    else:
        solver.parameters.linearization_level = 2  # measured: proves more GAP optima

    def set_hint(pick: Ints) -> None:
        model.clear_hints()  # type: ignore[no-untyped-call]
        chosen = np.zeros(n_options, dtype=np.bool_)
        chosen[pick[pick >= 0]] = True
        for var, on in zip(x, chosen.tolist(), strict=True):
            model.add_hint(var, on)

    def read() -> Ints:
        on = np.array([solver.boolean_value(v) for v in x], dtype=np.bool_)
        pick = np.full(problem.n_items, UNPLACED, dtype=np.int64)
        chosen = np.flatnonzero(on)
        pick[problem.option_item[chosen]] = chosen
        return pick

    if hint is not None:
        set_hint(hint)
    total = int(problem.value.sum())
    top = total if value_upper is None else min(value_upper, total)
    floor = problem.value_of(hint) if hint is not None else 0
    value_optimal = floor >= top
    if np.all(problem.required | (problem.value == 0)):
        floor, value_optimal = total, True  # every assignment places the same value
    best = hint

    # One solve when value * weight - cost fits in int64 (weight above any cost change).
    weight = int(np.abs(problem.cost).sum()) + 1
    if not value_optimal and weight * (total + 1) < 2**62:
        model.maximize(value_expr * weight - cost_expr)
        solver.parameters.max_time_in_seconds = max(0.01, deadline - now())
        with stoppable(solver):
            status = solver.solve(model)
        if status == cp_model.INFEASIBLE:
            return CpResult(None, 0, True, None, True)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return CpResult(best, floor, False, None, False)
        found = read()
        optimal = status == cp_model.OPTIMAL
        cost = problem.cost_of(found)
        return CpResult(found, problem.value_of(found), optimal, cost if optimal else None, False)

    # Stage 1: the most value.
    if not value_optimal:
        model.maximize(value_expr)
        solver.parameters.max_time_in_seconds = max(0.01, (deadline - now()) * VALUE_SHARE)
        with stoppable(solver):
            status = solver.solve(model)
        if status == cp_model.INFEASIBLE:
            return CpResult(None, 0, True, None, True)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            found = read()
            if hint is None or (problem.value_of(found), -problem.cost_of(found)) > (
                problem.value_of(hint),
                -problem.cost_of(hint),
            ):
                best = found
            assert best is not None
            floor = problem.value_of(best)
            value_optimal = status == cp_model.OPTIMAL or floor >= top
            set_hint(best)

    # Stage 2: the least cost at that value.
    model.add(value_expr >= floor)
    model.minimize(cost_expr)
    solver.parameters.max_time_in_seconds = max(0.01, deadline - now())
    with stoppable(solver):
        status = solver.solve(model)
    if status == cp_model.INFEASIBLE:
        return CpResult(best, floor, value_optimal, None, best is None)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return CpResult(best, floor, value_optimal, None, False)
    found = read()
    cost = problem.cost_of(found)
    bound = cost if status == cp_model.OPTIMAL else _ceil(solver.best_objective_bound)
    return CpResult(found, floor, value_optimal, bound, False)


def _ceil(bound: float) -> int:
    return math.ceil(bound - 1e-9 * abs(bound) - 1e-6)
