"""CP-SAT on grouped items: one integer count per (group, option), two-stage lexicographic.

Stage 1 maximises the placed value; stage 2 fixes `value >= best value found` and
minimises cost. Two solves instead of one big-M weighted objective keep the order exact
and avoid int64 overflow of `value * M + cost`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from router.solve.flat import BoolArray, Flat, IntArray


@dataclass(frozen=True, slots=True, eq=False)
class CpOutcome:
    """What CP-SAT found: per-option amounts (None if nothing) and what it proved.

    `cost_bound` is valid for assignments with value >= `value_floor`.
    """

    y: IntArray | None
    value_optimal: bool
    value_floor: int
    cost_bound: int | None
    cost_optimal: bool
    infeasible: bool


def solve_cpsat(
    flat: Flat,
    deadline: float,
    *,
    hint: IntArray | None = None,
    value_upper: int | None = None,
    banned: BoolArray | None = None,
    workers: int = 2,
    one_solve: bool = False,
    linearization: int | None = None,
) -> CpOutcome:
    """Solve the grouped problem until `deadline` (time.monotonic()); never raises on timeout.

    `hint`: a feasible starting assignment. `value_upper`: a proven upper bound on value
    (reaching it proves stage 1). `banned`: options proven unable to appear in any
    assignment cheaper than the hint with at least its value (reduced-cost fixing);
    fixed to zero in stage 2 only. `one_solve`: when `W * value - cost` fits in int64
    (W above any cost difference, so the order stays exact), solve that once instead of
    two stages; quicker for small neighbourhoods, but proves no cost bound.
    """
    # Data: per option an upper bound from its group count and the capacities.
    upper = flat.count[flat.option_group].copy()
    uo = flat.use_option()
    np.minimum.at(upper, uo, flat.capacity[flat.use_res] // flat.use_amt)

    # Model and variables.
    model = cp_model.CpModel()
    y = [model.new_int_var(0, int(u), f"y{k}") for k, u in enumerate(upper)]

    # Constraints: group counts, capacities.
    for g in range(flat.n_groups):
        lo, hi = int(flat.group_ptr[g]), int(flat.group_ptr[g + 1])
        n = int(flat.count[g])
        if flat.required[g]:
            model.add(sum(y[lo:hi]) == n)
        elif hi > lo:
            model.add(sum(y[lo:hi]) <= n)
    for r in range(flat.n_resources):
        on = np.flatnonzero(flat.use_res == r)
        if len(on):
            terms = [y[int(uo[e])] * int(flat.use_amt[e]) for e in on]
            model.add(sum(terms) <= int(flat.capacity[r]))
    option_value = flat.value[flat.option_group]
    value_expr = sum(y[k] * int(v) for k, v in enumerate(option_value) if v)
    cost_expr = sum(y[k] * int(c) for k, c in enumerate(flat.cost) if c)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = 1
    if linearization is not None:  # 2 adds the LP relaxation with cuts: slower, stronger
        solver.parameters.linearization_level = linearization

    def set_hint(amounts: IntArray) -> None:
        model.clear_hints()  # type: ignore[no-untyped-call]
        for var, a in zip(y, amounts, strict=True):
            model.add_hint(var, int(a))

    def read() -> IntArray:
        return np.array([solver.value(v) for v in y], dtype=np.int64)

    if hint is not None:
        set_hint(hint)

    # Stage 1: maximise value (skipped when fixed or already reached by the hint).
    value_fixed = bool(np.all(flat.required | (flat.value == 0)))
    total = int(flat.value @ flat.count)
    top = total if value_upper is None else min(value_upper, total)
    hint_value = None if hint is None else flat.value_of(hint)
    stage1: IntArray | None = None
    weight = int(np.abs(flat.cost[upper > 0]) @ upper[upper > 0]) + 1
    if one_solve and not value_fixed and weight * (total + 1) < 2**62:
        model.maximize(value_expr * weight - cost_expr)
        solver.parameters.max_time_in_seconds = max(0.01, deadline - time.monotonic())
        status = solver.solve(model)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            infeasible = status == cp_model.INFEASIBLE
            return CpOutcome(hint, infeasible, hint_value or 0, None, infeasible, infeasible)
        found = read()
        optimal = status == cp_model.OPTIMAL
        return CpOutcome(found, optimal, flat.value_of(found), None, optimal, False)
    if value_fixed:
        floor, value_optimal = total, True
    elif hint_value is not None and hint_value >= top:
        floor, value_optimal = hint_value, True
    else:
        model.maximize(value_expr)
        solver.parameters.max_time_in_seconds = max(0.01, (deadline - time.monotonic()) / 2)
        status = solver.solve(model)
        if status == cp_model.INFEASIBLE:
            return CpOutcome(None, True, 0, None, True, True)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return CpOutcome(hint, False, hint_value or 0, None, False, False)
        stage1 = read()
        floor = flat.value_of(stage1)  # exact: no float objective round-trip
        value_optimal = status == cp_model.OPTIMAL or floor >= top
        set_hint(stage1)

    # Stage 2: keep the value, minimise cost. Reduced-cost fixing holds only at exactly the
    # hint's value: placing more value may need a costlier, banned option.
    model.add(value_expr >= floor)
    if banned is not None and hint is not None and floor == hint_value:
        for k in np.flatnonzero(banned & (hint == 0)):
            model.add(y[int(k)] == 0)
    model.minimize(cost_expr)
    solver.parameters.max_time_in_seconds = max(0.01, deadline - time.monotonic())
    status = solver.solve(model)
    if status == cp_model.INFEASIBLE:
        if hint is not None or stage1 is not None:
            return CpOutcome(
                stage1 if stage1 is not None else hint, value_optimal, floor, None, False, False
            )
        return CpOutcome(None, True, 0, None, True, True)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        best = stage1 if stage1 is not None else hint
        return CpOutcome(best, value_optimal, floor, None, False, False)
    found = read()
    optimal = status == cp_model.OPTIMAL
    cost = flat.cost_of(found)
    bound = cost if optimal else _ceil(solver.best_objective_bound)
    return CpOutcome(found, value_optimal, floor, bound, optimal, False)


def _ceil(bound: float) -> int:
    return math.ceil(bound - 1e-9 * abs(bound) - 1e-6)
