"""The LP's rows (relax.model_rows) over integer variables, solved by SCIP (bundled with
OR-Tools): the cheapest plan at a value floor, for models small enough to search whole.

SCIP's cuts and branching prove optima that CP-SAT does not reach in the same time, and
the other way round (measured, GAP at 10 s: SCIP alone proves chu1997 b10200 in 5.3 s and
c10200 in 7.8 s, which CP-SAT leaves open; CP-SAT proves b05200 in 2.6 s, SCIP not in
9.4 s). It releases the GIL while it searches, so it runs in a thread beside CP-SAT.
Through `pywraplp`: model builder's SCIP ignores an interrupt, this one stops at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from router.solve.clock import now, stoppable
from router.solve.problem import UNPLACED, Ints, Problem
from router.solve.relax import model_rows, safe_ceil


@dataclass(frozen=True, eq=False)
class MipResult:
    """SCIP's best plan (None if none) and a valid lower bound on the cost of any plan
    placing value >= the floor (None if it proved nothing)."""

    pick: Ints | None
    cost_bound: int | None
    optimal: bool = False  # the bound proves the plan optimal


def solve_mip(problem: Problem, floor: int, deadline: float, hint: Ints | None = None) -> MipResult:
    """The cheapest plan placing value >= `floor`, until `deadline`; never raises on
    timeout. `hint`: a feasible plan to start from."""
    # 40 ms to import, for the few plans that get here; SWIG-made, so untyped
    from ortools.linear_solver import pywraplp  # type: ignore[attr-defined]

    seconds = deadline - now()
    solver = pywraplp.Solver.CreateSolver("SCIP")
    if seconds <= 0 or solver is None:
        return MipResult(None, None)
    x = [solver.BoolVar("") for _ in range(problem.n_options)]
    for lower, upper, options, coefficients in model_rows(problem, floor if floor > 0 else None):
        row = solver.Constraint(lower, upper)
        for option, coefficient in zip(options, coefficients, strict=True):
            row.SetCoefficient(x[option], coefficient)
    objective = solver.Objective()
    for option, cost in enumerate(problem.cost.astype(np.float64).tolist()):
        objective.SetCoefficient(x[option], cost)
    if hint is not None:
        on = np.zeros(problem.n_options)
        on[hint[hint >= 0]] = 1.0
        solver.SetHint(x, on.tolist())
    solver.SetTimeLimit(max(1, int(seconds * 1000)))
    with stoppable(solver.InterruptSolve):
        status = solver.Solve()
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return MipResult(None, None)
    values = np.fromiter((v.solution_value() for v in x), dtype=np.float64, count=len(x))
    on_options = np.flatnonzero(values > 0.5)
    pick = np.full(problem.n_items, UNPLACED, dtype=np.int64)
    pick[problem.option_item[on_options]] = on_options
    if not problem.feasible(pick) or problem.value_of(pick) < floor:
        return MipResult(None, None)  # tolerances let through a plan that is not one
    bound = float(objective.BestBound())
    if status == pywraplp.Solver.OPTIMAL:
        bound = min(bound, float(problem.cost_of(pick)))
    if not math.isfinite(bound):
        return MipResult(pick, None)
    proven = safe_ceil(bound)  # the costs are integers
    return MipResult(pick, proven, proven >= problem.cost_of(pick))
