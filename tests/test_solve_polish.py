"""Polish against brute force: the same items placed, feasible, never dearer, and on
models small enough for one neighbourhood to hold every resource, the cheapest placing."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.solve.construct import exchange, repack, squeeze_in, swap
from router.solve.neighbourhood import lns
from router.solve.polish import polish
from router.solve.problem import Ints, Problem, build_problem
from tests.test_solve_properties import Spec, feasible_picks, placement_like


def any_feasible_start(spec: Spec, which: int) -> tuple[Problem, Ints, list[Ints]] | None:
    """The problem `spec` builds, its `which`-th feasible plan (any, often a dear one)
    and every feasible plan; None when there is none."""
    problem = build_problem(*spec)
    picks = feasible_picks(problem)
    if not picks:
        return None
    return problem, picks[which % len(picks)], picks


def cheapest_with_same_items(picks: list[Ints], pick: Ints, problem: Problem) -> int:
    same = [p for p in picks if np.array_equal(p >= 0, pick >= 0)]
    return min(problem.cost_of(p) for p in same)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(placement_like(), st.integers(0, 10**6))
def test_polish_keeps_the_items_and_never_costs_more(spec: Spec, which: int) -> None:
    drawn = any_feasible_start(spec, which)
    if drawn is None:
        return
    problem, start, picks = drawn
    polished = polish(problem, start, time.monotonic() + 2.0, seed=which)
    assert problem.feasible(polished)
    assert np.array_equal(polished >= 0, start >= 0)
    assert problem.cost_of(polished) <= problem.cost_of(start)
    if problem.n_resources <= 4:  # the first neighbourhood holds every resource
        assert problem.cost_of(polished) == cheapest_with_same_items(picks, start, problem)


def test_polish_moves_an_item_out_of_the_way_to_make_room_for_a_cheaper_one() -> None:
    # Item 0 (size 2) sits on dear pool 1; pool 0 is cheap for it but item 1 (size 1) fills
    # it, and item 1 costs the same on either pool. The cheapest plan swaps them.
    problem = build_problem(
        [
            (5, False, [(10, [(0, 2)]), (100, [(1, 2)])]),
            (5, False, [(20, [(0, 1)]), (20, [(1, 1)])]),
        ],
        [2, 2],
    )
    start = np.array([1, 2], dtype=np.int64)  # item 0 dear, item 1 on pool 0
    polished = polish(problem, start, time.monotonic() + 2.0)
    assert polished.tolist() == [0, 3]
    assert problem.cost_of(polished) == 30


@pytest.mark.parametrize("move", [swap, exchange], ids=["pairwise", "two-pool"])
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=placement_like(), which=st.integers(0, 10**6))
def test_exchanges_keep_the_items_feasible_and_never_cost_more(
    move: Callable[[Problem, Ints, float], Ints], spec: Spec, which: int
) -> None:
    drawn = any_feasible_start(spec, which)
    if drawn is None:
        return
    problem, start, _ = drawn
    moved = move(problem, start, time.monotonic() + 1.0)
    assert problem.feasible(moved)
    assert np.array_equal(moved >= 0, start >= 0)
    assert problem.cost_of(moved) <= problem.cost_of(start)


def test_an_exchange_puts_each_item_on_its_cheap_pool() -> None:
    # Pool 0 is cheap for item 0 and pool 1 for item 1, but each sits on the other's; both
    # pools are full, so no single move helps: only the exchange does.
    problem = build_problem(
        [
            (1, True, [(10, [(0, 2)]), (50, [(1, 2)])]),
            (1, True, [(60, [(0, 2)]), (20, [(1, 2)])]),
        ],
        [2, 2],
    )
    start = np.array([1, 2], dtype=np.int64)  # 50 + 60
    swapped = swap(problem, start, time.monotonic() + 1.0)
    assert swapped.tolist() == [0, 3] and problem.cost_of(swapped) == 30


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(placement_like(), st.integers(0, 10**6))
def test_squeezing_in_never_drops_a_placed_item(spec: Spec, which: int) -> None:
    drawn = any_feasible_start(spec, which)
    if drawn is None:
        return
    problem, start, _ = drawn
    wanted = np.flatnonzero(start < 0)
    squeezed = squeeze_in(problem, start, problem.cost.astype(np.float64), wanted)
    assert problem.feasible(squeezed)
    assert np.all(squeezed[start >= 0] >= 0)
    assert problem.value_of(squeezed) >= problem.value_of(start)


def test_squeezing_in_moves_an_item_aside_for_a_waiting_one() -> None:
    # Item 0 (size 2) fits only pool 0, where item 1 (size 1, could go to pool 1) sits.
    problem = build_problem(
        [
            (5, False, [(10, [(0, 2)])]),
            (1, False, [(1, [(0, 1)]), (2, [(1, 1)])]),
        ],
        [2, 1],
    )
    start = np.array([-1, 1], dtype=np.int64)
    squeezed = squeeze_in(problem, start, problem.cost.astype(np.float64), np.array([0]))
    assert squeezed.tolist() == [0, 2] and problem.feasible(squeezed)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(placement_like(), st.integers(0, 10**6))
def test_repacking_is_feasible_keeps_required_items_and_is_never_worse(
    spec: Spec, which: int
) -> None:
    drawn = any_feasible_start(spec, which)
    if drawn is None:
        return
    problem, start, _ = drawn
    packed = repack(problem, start)
    assert problem.feasible(packed)
    before = (problem.value_of(start), -problem.cost_of(start))
    after = (problem.value_of(packed), -problem.cost_of(packed))
    assert after >= before


def test_repacking_trades_a_small_item_for_two_that_fill_the_pool() -> None:
    # Pool 0 holds 4 devices: item 0 (size 3, value 3) sits there; items 1 and 2 (size 2
    # each, value 2 each) wait. The best contents are items 1 and 2 (value 4): item 0 has
    # nowhere else to go and is left out. No single move or ejection finds this.
    problem = build_problem(
        [
            (3, False, [(10, [(0, 3)])]),
            (2, False, [(10, [(0, 2)])]),
            (2, False, [(10, [(0, 2)])]),
        ],
        [4],
    )
    packed = repack(problem, np.array([0, -1, -1], dtype=np.int64))
    assert packed.tolist() == [-1, 1, 2]


def test_repacking_moves_an_occupant_to_its_other_pool_rather_than_drop_it() -> None:
    # Item 0 (size 2) fits only pool 0, where item 1 sits; item 1 can also go to pool 1.
    problem = build_problem(
        [
            (5, False, [(10, [(0, 2)])]),
            (1, False, [(1, [(0, 1)]), (2, [(1, 1)])]),
        ],
        [2, 1],
    )
    packed = repack(problem, np.array([-1, 1], dtype=np.int64))
    assert packed.tolist() == [0, 2]


def test_repacking_brings_a_dear_item_home_and_moves_the_occupant_aside() -> None:
    # Item 0 sits on dear pool 1; cheap pool 0 is full with item 1, which costs a little
    # more on pool 2 (free). Repacking pool 0 takes item 0 in and moves item 1 to pool 2.
    problem = build_problem(
        [
            (1, False, [(10, [(0, 2)]), (100, [(1, 2)])]),
            (1, False, [(20, [(0, 2)]), (25, [(2, 2)])]),
        ],
        [2, 2, 2],
    )
    packed = repack(problem, np.array([1, 2], dtype=np.int64))
    assert packed.tolist() == [0, 3] and problem.cost_of(packed) == 35


def test_a_two_pool_exchange_moves_two_small_items_for_a_big_one() -> None:
    # Pool 0 (4 devices) is cheap for item 0 (size 4), which sits on dear pool 1; items 1
    # and 2 (size 2 each) fill pool 0 and cost the same on either pool. No single move or
    # one-for-one exchange fits; dividing the two pools again does: item 0 to pool 0,
    # items 1 and 2 to pool 1.
    problem = build_problem(
        [
            (1, True, [(10, [(0, 4)]), (100, [(1, 4)])]),
            (1, True, [(20, [(0, 2)]), (20, [(1, 2)])]),
            (1, True, [(20, [(0, 2)]), (20, [(1, 2)])]),
        ],
        [4, 4],
    )
    start = np.array([1, 2, 4], dtype=np.int64)  # 100 + 20 + 20
    exchanged = exchange(problem, start, time.monotonic() + 1.0)
    assert exchanged.tolist() == [0, 3, 5] and problem.cost_of(exchanged) == 50


@pytest.mark.parametrize("linked", [False, True], ids=["grown", "linked"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=placement_like(), which=st.integers(0, 10**6))
def test_neighbourhood_search_is_feasible_and_never_worse(
    linked: bool, spec: Spec, which: int
) -> None:
    drawn = any_feasible_start(spec, which)
    if drawn is None:
        return
    problem, start, _ = drawn
    found = lns(problem, start, None, time.monotonic() + 0.3, seed=which, linked=linked)
    assert problem.feasible(found)
    before = (problem.value_of(start), -problem.cost_of(start))
    assert (problem.value_of(found), -problem.cost_of(found)) >= before
