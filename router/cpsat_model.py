"""CP-SAT on grouped items: one integer count per (group, option), two-stage lexicographic.

Stage 1 maximises the placed value; stage 2 fixes `value >= best value found` and
minimises cost. Two solves instead of one big-M weighted objective keep the order exact
and avoid int64 overflow of `value * M + cost`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ortools.sat.python import cp_model

if TYPE_CHECKING:
    from router.solver import Item


@dataclass(frozen=True, slots=True)
class CpOutcome:
    """What CP-SAT found: per-group option amounts (None if nothing) and proofs."""

    amounts: list[list[int]] | None
    value: int
    cost: int
    value_optimal: bool
    cost_bound: int | None
    cost_optimal: bool
    infeasible: bool


def solve_cpsat(
    reps: Sequence[Item],
    counts: Sequence[int],
    capacities: Sequence[int],
    deadline: float,
    *,
    hint: Sequence[Sequence[int]] | None = None,
    value_upper: int | None = None,
    workers: int = 2,
) -> CpOutcome:
    """Solve the grouped problem until `deadline` (time.monotonic()); never raises on timeout.

    `hint` is a starting assignment (per-group option amounts); `value_upper` a known
    upper bound on the value (e.g. from the LP): reaching it proves stage 1 optimal.
    """
    # Data: an upper bound per (group, option) from its count and the capacities.
    model = cp_model.CpModel()
    y: list[list[cp_model.IntVar | None]] = []
    usage: list[list[tuple[cp_model.IntVar, int]]] = [[] for _ in capacities]
    value_terms: list[tuple[cp_model.IntVar, int]] = []
    cost_terms: list[tuple[cp_model.IntVar, int]] = []
    for g, (item, count) in enumerate(zip(reps, counts, strict=True)):
        row: list[cp_model.IntVar | None] = []
        for o, option in enumerate(item.options):
            upper = count
            for r, amount in option.uses:
                if amount > 0:
                    upper = min(upper, capacities[r] // amount)
            if upper <= 0:
                row.append(None)
                continue
            var = model.new_int_var(0, upper, f"y{g}_{o}")
            row.append(var)
            for r, amount in option.uses:
                usage[r].append((var, amount))
            value_terms.append((var, item.value))
            cost_terms.append((var, option.cost))
        placed = [v for v in row if v is not None]
        if item.required:
            model.add(sum(placed) == count)
        elif placed:
            model.add(sum(placed) <= count)
        y.append(row)

    # Constraints: capacities.
    for r, terms in enumerate(usage):
        if terms:
            model.add(sum(v * a for v, a in terms) <= capacities[r])

    value_expr = sum(v * c for v, c in value_terms)
    cost_expr = sum(v * c for v, c in cost_terms)
    solver = _new_solver(workers)

    def amounts_of(read: cp_model.CpSolver) -> list[list[int]]:
        return [[0 if v is None else int(read.value(v)) for v in row] for row in y]

    def set_hint(amounts: Sequence[Sequence[int]]) -> None:
        model.clear_hints()  # type: ignore[no-untyped-call]
        for row, hinted in zip(y, amounts, strict=True):
            for v, a in zip(row, hinted, strict=True):
                if v is not None:
                    model.add_hint(v, a)

    if hint is not None:
        set_hint(hint)

    # Stage 1: maximise value (skipped when it is fixed or the hint already reaches the bound).
    value_fixed = all(item.required or item.value == 0 for item in reps)
    total_value = sum(item.value * count for item, count in zip(reps, counts, strict=True))
    upper = total_value if value_upper is None else min(value_upper, total_value)
    hint_value = None if hint is None else _value(reps, hint)
    stage1_amounts: list[list[int]] | None = None
    if value_fixed:
        best_value, value_optimal = total_value, True
    elif hint_value is not None and hint_value >= upper:
        best_value, value_optimal = hint_value, True
    else:
        model.maximize(value_expr)
        _set_time(solver, (deadline - time.monotonic()) / 2)
        status = solver.solve(model)
        if status == cp_model.INFEASIBLE:
            return CpOutcome(None, 0, 0, True, None, True, True)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return CpOutcome(None, 0, 0, False, None, False, False)
        stage1_amounts = amounts_of(solver)
        best_value = _value(reps, stage1_amounts)  # exact: no float objective round-trip
        value_optimal = status == cp_model.OPTIMAL or best_value >= upper
        set_hint(stage1_amounts)

    # Stage 2: keep the value, minimise cost.
    model.add(value_expr >= best_value)
    model.minimize(cost_expr)
    _set_time(solver, deadline - time.monotonic())
    status = solver.solve(model)
    if status == cp_model.INFEASIBLE:
        return CpOutcome(None, 0, 0, True, None, True, True)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        if stage1_amounts is None:
            return CpOutcome(None, 0, 0, False, None, False, False)
        cost = _cost(reps, stage1_amounts)
        return CpOutcome(stage1_amounts, best_value, cost, value_optimal, None, False, False)
    amounts = amounts_of(solver)
    cost = _cost(reps, amounts)
    optimal = status == cp_model.OPTIMAL
    bound = cost if optimal else math.ceil(solver.best_objective_bound - 1e-6)
    return CpOutcome(amounts, _value(reps, amounts), cost, value_optimal, bound, optimal, False)


def _value(reps: Sequence[Item], amounts: Sequence[Sequence[int]]) -> int:
    return sum(item.value * sum(row) for item, row in zip(reps, amounts, strict=True))


def _cost(reps: Sequence[Item], amounts: Sequence[Sequence[int]]) -> int:
    return sum(
        option.cost * a
        for item, row in zip(reps, amounts, strict=True)
        for option, a in zip(item.options, row, strict=True)
    )


def _new_solver(workers: int) -> cp_model.CpSolver:
    """A CP-SAT solver set up for a small shared machine, seeded for repeatability."""
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = 1
    return solver


def _set_time(solver: cp_model.CpSolver, seconds: float) -> None:
    solver.parameters.max_time_in_seconds = max(0.01, seconds)
