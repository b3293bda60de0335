"""The flow-rounding solver: feasible plans, valid bounds, exact on what it proves."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from router.solve.gangsolver import GangProblem, solve_gang
from router.solve.plansolver import optimise


@st.composite
def gang_problems(draw: st.DrawFn) -> GangProblem:
    n_pools = draw(st.integers(1, 3))
    n_items = draw(st.integers(1, 5))
    sizes, values, ptr, pools, costs = [], [], [0], [], []
    side_ptr, side_res, side_amt = [0], [], []
    for _ in range(n_items):
        sizes.append(draw(st.integers(1, 6)))
        values.append(draw(st.integers(1, 50)))
        chosen = draw(st.lists(st.integers(0, n_pools - 1), max_size=n_pools, unique=True))
        for pool in chosen:
            pools.append(pool)
            costs.append(draw(st.integers(0, 100)))
            if draw(st.booleans()):
                side_res.append(0)
                side_amt.append(draw(st.integers(1, 5)))
            side_ptr.append(len(side_res))
        ptr.append(len(pools))
    return GangProblem(
        value=np.array(values, dtype=np.int64),
        size=np.array(sizes, dtype=np.int64),
        option_ptr=np.array(ptr, dtype=np.int64),
        option_pool=np.array(pools, dtype=np.int64),
        option_cost=np.array(costs, dtype=np.int64),
        capacity=np.array([draw(st.integers(0, 10)) for _ in range(n_pools)], dtype=np.int64),
        side_ptr=np.array(side_ptr, dtype=np.int64),
        side_res=np.array(side_res, dtype=np.int64),
        side_amt=np.array(side_amt, dtype=np.int64),
        side_capacity=np.array([draw(st.integers(0, 8))], dtype=np.int64),
    )


def _feasible(p: GangProblem, choice: list[int]) -> bool:
    pool_use = np.zeros(len(p.capacity), dtype=np.int64)
    side_use = np.zeros(len(p.side_capacity), dtype=np.int64)
    for item, option in enumerate(choice):
        if option < 0:
            continue
        assert p.option_ptr[item] <= option < p.option_ptr[item + 1]
        pool_use[p.option_pool[option]] += p.size[item]
        lo, hi = p.side_ptr[option], p.side_ptr[option + 1]
        np.add.at(side_use, p.side_res[lo:hi], p.side_amt[lo:hi])
    return bool(np.all(pool_use <= p.capacity) and np.all(side_use <= p.side_capacity))


def _brute_force(p: GangProblem) -> tuple[int, int]:
    """(max value, min cost at that value) over every assignment."""
    choices = [
        [-1, *range(int(p.option_ptr[i]), int(p.option_ptr[i + 1]))] for i in range(p.n_items)
    ]
    best = (-1, 0)
    for combo in itertools.product(*choices):
        if not _feasible(p, list(combo)):
            continue
        value = sum(int(p.value[i]) for i, o in enumerate(combo) if o >= 0)
        cost = sum(int(p.option_cost[o]) for o in combo if o >= 0)
        if value > best[0] or (value == best[0] and cost < best[1]):
            best = (value, cost)
    return best


@settings(max_examples=150, deadline=None)
@given(gang_problems())
def test_plans_are_feasible_and_bounds_valid(problem: GangProblem) -> None:
    solution = solve_gang(problem, time_limit_s=2)
    assert _feasible(problem, solution.choice.tolist())
    best_value, best_cost = _brute_force(problem)
    assert solution.value <= best_value <= solution.value_bound + 1e-6
    assert solution.cost_bound <= solution.cost
    if solution.value == best_value:
        assert solution.cost_bound <= best_cost  # a lower bound for plans of this value
    if solution.status == "optimal":
        assert (solution.value, solution.cost) == (best_value, best_cost)


def test_the_exact_model_repairs_what_rounding_packs_badly() -> None:
    # Two pools of 5; jobs of 4, 4 and 2 of equal value per device. The flow keeps the
    # small job whole and splits a big one; rounding then fits only one big job. Small
    # models get the exact solver's time too, which places both big jobs.
    problem = GangProblem(
        value=np.array([40, 40, 20], dtype=np.int64),
        size=np.array([4, 4, 2], dtype=np.int64),
        option_ptr=np.array([0, 2, 4, 6], dtype=np.int64),
        option_pool=np.array([0, 1, 0, 1, 0, 1], dtype=np.int64),
        option_cost=np.array([10, 12, 10, 12, 5, 6], dtype=np.int64),
        capacity=np.array([5, 5], dtype=np.int64),
        side_ptr=np.zeros(7, dtype=np.int64),
        side_res=np.empty(0, dtype=np.int64),
        side_amt=np.empty(0, dtype=np.int64),
        side_capacity=np.empty(0, dtype=np.int64),
    )
    rounded = solve_gang(problem, time_limit_s=2)
    assert rounded.value == 60 and rounded.status == "feasible"
    best = optimise(problem, time_limit_s=5)
    assert (best.value, best.cost, best.status) == (80, 22, "optimal")
    assert best.cost_bound == 22


@settings(max_examples=100, deadline=None)
@given(gang_problems())
def test_greedy_path_for_models_too_big_for_the_time_keeps_plans_feasible(
    problem: GangProblem,
) -> None:
    # When a flow over every option would not finish in half the time limit, the plan is
    # greedy and the bound comes only from flows that fit. Force that path.
    import router.solve.gangsolver as gangsolver

    saved = gangsolver.FLOW_SECONDS_PER_ARC
    gangsolver.FLOW_SECONDS_PER_ARC = 10.0
    try:
        solution = solve_gang(problem, time_limit_s=2)
    finally:
        gangsolver.FLOW_SECONDS_PER_ARC = saved
    assert _feasible(problem, solution.choice.tolist())
    best_value, best_cost = _brute_force(problem)
    assert solution.value <= best_value
    assert solution.cost_bound <= solution.cost
    if solution.value == best_value:
        assert solution.cost_bound <= best_cost
    if problem.n_options:
        assert solution.status != "optimal"
