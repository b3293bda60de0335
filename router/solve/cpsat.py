"""CP-SAT on a (restricted) problem: one Boolean per option, value first, then cost.

The model is written straight into CP-SAT's model proto from the arrays (the
`cp_model` layer would build one Python object per variable and imports pandas:
0.3 s of a 3 s plan). When `value * weight - cost` fits in int64 one solve orders the
two objectives exactly; otherwise stage 1 maximises the value and stage 2 keeps
`value >= the best found` and minimises cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model_helper as cmh

from router.solve.clock import now, stoppable
from router.solve.problem import UNPLACED, Ints, Problem, grouped
from router.solve.relax import safe_ceil

VALUE_SHARE = 0.4  # of the time left, at most, for stage 1
SMALL_OPTIONS = 5_000  # models up to this size get full presolve and cuts
WORKERS = 2  # CP-SAT threads: the machine the targets are measured on has two cores
INT_LIMIT = 2**62  # objective coefficients and bounds stay inside CP-SAT's int64


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
    workers: int | None = None,
    first_only: bool = False,
) -> CpResult:
    """Solve until `deadline` (time.monotonic()); never raises on timeout.

    `hint`: a feasible assignment to start from. `value_upper`: a proven bound on the
    value (reaching it skips stage 1). `first_only`: stop at the first solution."""
    model = _model(problem)
    option_value = problem.value[problem.option_item]
    params = cmh.SatParameters()
    params.num_workers = workers or WORKERS
    params.random_seed = seed
    params.stop_after_first_solution = first_only
    if problem.n_options > SMALL_OPTIONS:
        # Light presolve: measured, full presolve spent seconds on models of 20k options.
        params.symmetry_level = 0
        params.max_presolve_iterations = 1
        params.cp_model_probing_level = 0
    else:
        params.linearization_level = 2  # measured: proves more GAP optima

    def run(objective: Ints, until: float) -> tuple[str, Ints | None, float]:
        model.clear_objective()
        model.objective.vars.extend(range(problem.n_options))
        model.objective.coeffs.extend(objective.tolist())
        params.max_time_in_seconds = max(0.01, until - now())
        solver = cmh.SolveWrapper()
        solver.set_parameters(params)
        with stoppable(solver.stop_search):
            response = solver.solve(model)  # type: ignore[no-untyped-call]  # untyped stub
        status = response.status.name
        if status not in ("OPTIMAL", "FEASIBLE"):
            return status, None, 0.0
        on = np.fromiter(response.solution, dtype=np.int64, count=problem.n_options)
        pick = np.full(problem.n_items, UNPLACED, dtype=np.int64)
        chosen = np.flatnonzero(on)
        pick[problem.option_item[chosen]] = chosen
        return status, pick, float(response.best_objective_bound)

    if hint is not None:
        _set_hint(model, problem, hint)
    total = int(problem.value.sum())
    top = total if value_upper is None else min(value_upper, total)
    floor = problem.value_of(hint) if hint is not None else 0
    value_optimal = floor >= top
    if np.all(problem.required | (problem.value == 0)):
        floor, value_optimal = total, True  # every assignment places the same value
    best = hint

    # One solve when the objective value * weight - cost fits: CP-SAT rejects a model
    # whose objective could overflow, summing |coefficient| over every option. Any two
    # plans' costs differ by less than `weight`, so one unit of value outweighs them.
    weight = 2 * _largest_costs(problem) + 1
    magnitude = weight * int(option_value.sum()) + int(np.abs(problem.cost).sum())
    if not value_optimal and magnitude < INT_LIMIT:
        status, found, _ = run(problem.cost - option_value * weight, deadline)
        if status == "INFEASIBLE":
            return CpResult(None, 0, True, None, True)
        if found is None:
            return CpResult(best, floor, False, None, False)
        optimal = status == "OPTIMAL"
        cost = problem.cost_of(found)
        return CpResult(found, problem.value_of(found), optimal, cost if optimal else None, False)

    # Stage 1: the most value.
    if not value_optimal:
        status, found, _ = run(-option_value, now() + (deadline - now()) * VALUE_SHARE)
        if status == "INFEASIBLE":
            return CpResult(None, 0, True, None, True)
        if found is not None:
            if hint is None or (problem.value_of(found), -problem.cost_of(found)) > (
                problem.value_of(hint),
                -problem.cost_of(hint),
            ):
                best = found
            assert best is not None
            floor = problem.value_of(best)
            value_optimal = status == "OPTIMAL" or floor >= top
            _set_hint(model, problem, best)

    # Stage 2: the least cost at that value (a dense row, left out when every
    # assignment places the same value: it would only slow the search).
    if not np.all(problem.required | (problem.value == 0)):
        floor_row = model.constraints.add().linear
        floor_row.vars.extend(range(problem.n_options))
        floor_row.coeffs.extend(option_value.tolist())
        floor_row.domain.extend([floor, max(floor, total)])
    status, found, bound = run(problem.cost, deadline)
    if status == "INFEASIBLE":
        return CpResult(best, floor, value_optimal, None, best is None)
    if found is None:
        return CpResult(best, floor, value_optimal, None, False)
    cost_bound = problem.cost_of(found) if status == "OPTIMAL" else safe_ceil(bound)
    return CpResult(found, floor, value_optimal, cost_bound, False)


def _model(problem: Problem) -> cmh.CpModelProto:
    """One 0/1 variable per option; one option per item (exactly one if required);
    capacities of the resources the options could overfill."""
    model = cmh.CpModelProto()
    for _ in range(problem.n_options):
        model.variables.add().domain.extend([0, 1])
    ptr = problem.item_ptr.tolist()
    for item, required in enumerate(problem.required.tolist()):
        lo, hi = ptr[item], ptr[item + 1]
        if required:
            model.constraints.add().exactly_one.literals.extend(range(lo, hi))
        elif hi - lo > 1:
            model.constraints.add().at_most_one.literals.extend(range(lo, hi))
    order, starts = grouped(problem.use_res, problem.n_resources)
    for r in range(problem.n_resources):
        entries = order[starts[r] : starts[r + 1]]
        amounts = problem.use_amt[entries]
        capacity = int(problem.capacity[r])
        if int(amounts.sum()) <= capacity:
            continue  # cannot bind
        row = model.constraints.add().linear
        row.vars.extend(problem.use_option[entries].tolist())
        row.coeffs.extend(amounts.tolist())
        row.domain.extend([0, capacity])
    return model


def _largest_costs(problem: Problem) -> int:
    """Sum over items of the largest |cost| among the item's options (exact ints)."""
    sizes = np.diff(problem.item_ptr)
    starts = problem.item_ptr[:-1][sizes > 0]
    if len(starts) == 0:
        return 0
    return sum(int(c) for c in np.maximum.reduceat(np.abs(problem.cost), starts))


def _set_hint(model: cmh.CpModelProto, problem: Problem, pick: Ints) -> None:
    chosen = np.zeros(problem.n_options, dtype=np.int64)
    chosen[pick[pick >= 0]] = 1
    model.clear_solution_hint()
    model.solution_hint.vars.extend(range(problem.n_options))
    model.solution_hint.values.extend(chosen.tolist())
