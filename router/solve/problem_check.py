"""Validate a solver Problem before modelling it, so bad numbers fail with a clear message."""

from __future__ import annotations

from typing import TYPE_CHECKING

from router.errors import FieldProblem, InvalidInputError

if TYPE_CHECKING:
    from router.solve.solver import Problem

INT64_SAFE = 2**62
CAPACITY_MAX = 2**40  # keeps sums of many option uses far inside int64


def check_problem(problem: Problem) -> None:
    """Raise InvalidInputError naming every bad field (negative, out of range, too large)."""
    problems: list[FieldProblem] = []
    n_res = len(problem.capacities)
    for r, cap in enumerate(problem.capacities):
        if not 0 <= cap <= CAPACITY_MAX:
            problems.append(FieldProblem(f"capacities[{r}]", f"must be in 0..2**40, got {cap}"))
    max_value = max_cost = 0
    for i, item in enumerate(problem.items):
        if item.value < 0:
            problems.append(FieldProblem(f"items[{i}].value", f"must be >= 0, got {item.value}"))
        max_value += item.value
        worst = 0
        for o, option in enumerate(item.options):
            worst = max(worst, abs(option.cost))
            for k, (r, amount) in enumerate(option.uses):
                where = f"items[{i}].options[{o}].uses[{k}]"
                if not 0 <= r < n_res:
                    problems.append(
                        FieldProblem(where, f"resource must be in 0..{n_res - 1}, got {r}")
                    )
                if amount < 0:
                    problems.append(FieldProblem(where, f"amount must be >= 0, got {amount}"))
        max_cost += worst
    if max_value >= INT64_SAFE:
        problems.append(FieldProblem("items", f"total value must be < 2**62, got {max_value}"))
    if max_cost >= INT64_SAFE:
        problems.append(FieldProblem("items", f"total |cost| must be < 2**62, got {max_cost}"))
    if problems:
        raise InvalidInputError(problems)
