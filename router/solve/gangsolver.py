"""Placement-shaped problems at national scale: a min-cost-flow relaxation, rounded.

A placement item (a job) needs `size` units (devices) of exactly one pool, the same
amount whichever pool it takes. Its LP relaxation is then a transportation problem:
devices flow source -> job -> pool -> sink, which OR-Tools' min-cost flow solves in
a fraction of the time a general LP needs. A basic optimal flow splits at most about
one job per pool, so rounding it (keep whole jobs, re-fit the split ones, fill what is
left greedily, make room in preferred pools by moving smaller jobs out, then move jobs
to cheaper pools) lands close to the LP bound.

The lexicographic objective (placed value first, then cost) is priced in: a unit of
value is worth `weight` milli-CNY. With a large weight the flow maximises value; a
search over the weight (Lagrangian) turns the flow's cost into a valid lower bound on
the cost of any plan that places at least the value reached. Side resources (link
bandwidth) are relaxed in the flow, which keeps the bound valid, and enforced in the
rounding.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow

Ints = npt.NDArray[np.int64]

FINEST = 1000.0  # flow costs at best in micro-CNY per device
COST_LIMIT = 2e12  # largest |arc cost|: OR-Tools' cost scaling multiplies by the node count
BOUND_STEPS = 14  # weight-search iterations for the bound, if time allows
FLOW_SECONDS_PER_ARC = 2e-6  # measured: 0.3 s for 250k options, 22 s for 6.2 M on 2 cores
DEAR_SHARE = 5  # ejection moves try the 1/DEAR_SHARE of placed jobs farthest from cheapest
TARGETS = 6  # cheapest options an ejection move tries for a job
MOVES_SHARE = 0.1  # of the time limit, at most, for single cheaper moves


@dataclass(frozen=True)
class GangProblem:
    """Items that each take `size[i]` units of one pool among their options.

    Options of item i are `option_ptr[i]:option_ptr[i+1]`, each with a pool and an
    integer cost. An option may also use side resources (`side_ptr` over options,
    `side_res` / `side_amt` entries) with capacities `side_capacity`.
    """

    value: Ints
    size: Ints
    option_ptr: Ints
    option_pool: Ints
    option_cost: Ints
    capacity: Ints
    side_ptr: Ints
    side_res: Ints
    side_amt: Ints
    side_capacity: Ints

    @property
    def n_items(self) -> int:
        return len(self.value)

    @property
    def n_options(self) -> int:
        return len(self.option_cost)


@dataclass(frozen=True)
class GangSolution:
    """Chosen option per item (global option index, or -1), with value, cost and bound."""

    choice: Ints
    value: int
    cost: int
    cost_bound: int
    value_bound: float
    status: str
    seconds: float


@dataclass(frozen=True)
class _Flow:
    flows: Ints  # per option, devices
    cost: int  # objective of the flow, in units of 1/scale milli-CNY
    scale: float
    value: float  # LP value of the flow
    seconds: float  # how long building and solving it took


def solve_gang(problem: GangProblem, time_limit_s: float) -> GangSolution:
    """Round the flow relaxation into a plan; report the Lagrangian bound reached."""
    start = time.monotonic()
    deadline = start + time_limit_s
    if problem.n_options == 0:
        empty = np.full(problem.n_items, -1, dtype=np.int64)
        return GangSolution(empty, 0, 0, 0, 0.0, "optimal", time.monotonic() - start)
    item_of = np.repeat(np.arange(problem.n_items), np.diff(problem.option_ptr))
    heavy = _value_weight(problem, item_of)
    # A flow cannot be interrupted: when one would not fit in half the time, plan greedily
    # (most valuable first, cheapest pool with room) and bound only if time is left.
    if problem.n_options * FLOW_SECONDS_PER_ARC > time_limit_s / 2:
        choice = _fill(problem, item_of, np.full(problem.n_items, -1, dtype=np.int64))
        choice = _cheaper_moves(problem, item_of, choice, deadline)
        value, cost = _evaluate(problem, choice)
        guess = problem.n_options * FLOW_SECONDS_PER_ARC
        bound = min(_bound(problem, item_of, choice, value, heavy, None, guess, deadline), cost)
        return GangSolution(
            choice, value, cost, bound, np.inf, "feasible", time.monotonic() - start
        )
    flow = _solve_flow(problem, item_of, heavy)
    choice = _round(problem, item_of, flow.flows)
    choice = _fill(problem, item_of, choice)
    room_until = min(deadline, time.monotonic() + time_limit_s * MOVES_SHARE)
    choice = _make_room(problem, choice, room_until)
    moves_until = min(deadline, time.monotonic() + time_limit_s * MOVES_SHARE)
    choice = _cheaper_moves(problem, item_of, choice, moves_until)
    value, cost = _evaluate(problem, choice)
    bound = min(_bound(problem, item_of, choice, value, heavy, flow, flow.seconds, deadline), cost)
    optimal = value >= int(flow.value + 1e-6) and cost == bound
    return GangSolution(
        choice,
        value,
        cost,
        bound,
        flow.value,
        "optimal" if optimal else "feasible",
        time.monotonic() - start,
    )


def _value_weight(problem: GangProblem, item_of: Ints) -> float:
    """A price per unit of value high enough that the flow always prefers more value.

    Moving a device between jobs changes value by at least the smallest gap between
    their values per device (or a whole job's density, when a device is added); the
    weight makes that worth more than any cost per device.
    """
    per_unit_cost = problem.option_cost / problem.size[item_of]
    density = np.unique(problem.value / problem.size)
    gaps = np.diff(density)
    smallest = min(float(density[0]), float(gaps.min()) if len(gaps) else np.inf)
    return 2.0 * (float(per_unit_cost.max()) + 1.0) / max(smallest, 1e-9)


def _solve_flow(problem: GangProblem, item_of: Ints, weight: float) -> _Flow:
    """Min-cost flow of devices with arc cost (cost - weight * value) per device, floored."""
    began = time.monotonic()
    n, pools = problem.n_items, len(problem.capacity)
    arcs = np.arange(problem.n_options)
    owner = item_of
    source, sink = 0, 1
    item_node = 2 + np.arange(n, dtype=np.int64)
    pool_node = 2 + n + np.arange(pools, dtype=np.int64)
    size = problem.size
    per_device = (problem.option_cost[arcs] - weight * problem.value[owner]) / size[owner]
    total = int(size.sum())
    largest = max(float(np.abs(per_device).max()), 1.0)
    scale = min(FINEST, COST_LIMIT / largest, 1e18 / (largest * max(total, 1)))
    unit = np.floor(per_device * scale).astype(np.int64) - 1  # never above the true cost
    smcf = min_cost_flow.SimpleMinCostFlow()
    smcf.add_arcs_with_capacity_and_unit_cost(
        np.concatenate([np.full(n, source), owner + 2, pool_node, [source]]),
        np.concatenate(
            [item_node, pool_node[problem.option_pool[arcs]], np.full(pools, sink), [sink]]
        ),
        np.concatenate([size, size[owner], problem.capacity, [total]]),
        np.concatenate([np.zeros(n, np.int64), unit, np.zeros(pools, np.int64), [0]]),
    )
    supplies = np.zeros(2 + n + pools, dtype=np.int64)
    supplies[source], supplies[sink] = total, -total
    smcf.set_nodes_supplies(np.arange(len(supplies)), supplies)
    status = smcf.solve()
    if status != smcf.OPTIMAL:
        raise RuntimeError(f"min-cost flow failed with status {status}")
    flows = np.zeros(problem.n_options, dtype=np.int64)
    flows[arcs] = smcf.flows(np.arange(n, n + len(arcs)))
    value = float((problem.value[item_of] * flows / size[item_of]).sum())
    return _Flow(flows, int(smcf.optimal_cost()), scale, value, time.monotonic() - began)


class _Capacity:
    """Residual pool and side capacities while a plan is built."""

    def __init__(self, problem: GangProblem) -> None:
        self.problem = problem
        self.pool = problem.capacity.astype(np.int64).copy()
        self.side = problem.side_capacity.astype(np.int64).copy()

    def fits(self, option: int, size: int) -> bool:
        p = self.problem
        if self.pool[p.option_pool[option]] < size:
            return False
        lo, hi = p.side_ptr[option], p.side_ptr[option + 1]
        return bool(np.all(self.side[p.side_res[lo:hi]] >= p.side_amt[lo:hi]))

    def take(self, option: int, size: int, sign: int = 1) -> None:
        p = self.problem
        self.pool[p.option_pool[option]] -= sign * size
        lo, hi = p.side_ptr[option], p.side_ptr[option + 1]
        np.subtract.at(self.side, p.side_res[lo:hi], sign * p.side_amt[lo:hi])


def _density_order(problem: GangProblem, items: Ints) -> Ints:
    """Items by value per unit of size, most valuable first; bigger first among equals
    (first-fit decreasing packs pools tighter)."""
    density = problem.value[items] / problem.size[items]
    return items[np.lexsort((-problem.size[items], -density))]


def _round(problem: GangProblem, item_of: Ints, flows: Ints) -> Ints:
    """Keep items the flow placed whole; re-fit split ones where their flow went."""
    choice = np.full(problem.n_items, -1, dtype=np.int64)
    capacity = _Capacity(problem)
    whole = np.flatnonzero(flows == problem.size[item_of])
    split_items = np.unique(item_of[(flows > 0) & (flows < problem.size[item_of])])
    deferred: list[int] = []
    by_density = np.argsort(-problem.value[item_of[whole]] / problem.size[item_of[whole]])
    for option in whole[by_density]:
        item = int(item_of[option])
        size = int(problem.size[item])
        if capacity.fits(int(option), size):
            capacity.take(int(option), size)
            choice[item] = option
        else:
            deferred.append(item)  # a side resource (link) the flow did not see is full
    for item in _density_order(problem, np.concatenate([split_items, deferred]).astype(np.int64)):
        lo, hi = problem.option_ptr[item], problem.option_ptr[item + 1]
        options = lo + np.argsort(-flows[lo:hi], kind="stable")  # most flow first
        for option in options:
            if flows[option] == 0:
                break
            if capacity.fits(int(option), int(problem.size[item])):
                capacity.take(int(option), int(problem.size[item]))
                choice[item] = option
                break
    return choice


def _fill(problem: GangProblem, item_of: Ints, choice: Ints) -> Ints:
    """Place what is still unplaced, most valuable first, at its cheapest option that fits."""
    capacity = _used_capacity(problem, choice)
    waiting = _density_order(problem, np.flatnonzero(choice < 0))
    for item in waiting:
        lo, hi = problem.option_ptr[item], problem.option_ptr[item + 1]
        size = int(problem.size[item])
        room = np.flatnonzero(capacity.pool[problem.option_pool[lo:hi]] >= size)
        for k in room[np.argsort(problem.option_cost[lo + room], kind="stable")]:
            if capacity.fits(int(lo + k), size):
                capacity.take(int(lo + k), size)
                choice[item] = lo + k
                break
    return choice


def _cheaper_moves(problem: GangProblem, item_of: Ints, choice: Ints, deadline: float) -> Ints:
    """Move single items to a cheaper option with room, costliest savings first."""
    capacity = _used_capacity(problem, choice)
    placed = np.flatnonzero(choice >= 0)
    for item in placed[np.argsort(-problem.option_cost[choice[placed]], kind="stable")]:
        if time.monotonic() > deadline:
            break
        lo, hi = problem.option_ptr[item], problem.option_ptr[item + 1]
        current = int(choice[item])
        size = int(problem.size[item])
        cheaper = np.flatnonzero(problem.option_cost[lo:hi] < problem.option_cost[current])
        for k in cheaper[np.argsort(problem.option_cost[lo + cheaper], kind="stable")]:
            option = int(lo + k)
            capacity.take(current, size, sign=-1)
            if capacity.fits(option, size):
                capacity.take(option, size)
                choice[item] = option
                break
            capacity.take(current, size)
    return choice


def _make_room(problem: GangProblem, choice: Ints, deadline: float) -> Ints:
    """Ejection moves: put a waiting item (or one in a dear pool) into a pool it prefers by
    moving smaller items out of that pool to places that have room, when the plan gains
    value, or the same value for less cost."""
    capacity = _used_capacity(problem, choice)
    members: dict[int, set[int]] = {}
    for item in np.flatnonzero(choice >= 0).tolist():
        members.setdefault(int(problem.option_pool[choice[item]]), set()).add(item)
    waiting = _density_order(problem, np.flatnonzero(choice < 0))
    placed = np.flatnonzero(choice >= 0)
    saving = problem.option_cost[choice[placed]] - _cheapest_cost(problem)[placed]
    dear = placed[np.argsort(-saving, kind="stable")][: max(1, len(placed) // DEAR_SHARE)]
    for item in [*waiting.tolist(), *dear.tolist()]:
        if time.monotonic() > deadline:
            break
        lo, hi = int(problem.option_ptr[item]), int(problem.option_ptr[item + 1])
        current = int(choice[item])
        size = int(problem.size[item])
        cheapest = lo + np.argsort(problem.option_cost[lo:hi], kind="stable")[:TARGETS]
        for target in cheapest.tolist():
            limit = problem.option_cost[current] if current >= 0 else np.inf
            if problem.option_cost[target] >= limit:
                break
            pool = int(problem.option_pool[target])
            if current >= 0:
                capacity.take(current, size, sign=-1)
            plan = _evict_for(problem, capacity, members.get(pool, set()), choice, target, size)
            gain = (0 if current < 0 else int(problem.option_cost[current])) - int(
                problem.option_cost[target]
            )
            worth = plan is not None and (current < 0 or gain > sum(d for _, _, d in plan))
            if plan is not None and worth and _apply(problem, capacity, choice, plan, target, size):
                for mover, alternative, _ in plan:
                    members[pool].discard(mover)
                    members.setdefault(int(problem.option_pool[alternative]), set()).add(mover)
                capacity.take(target, size)
                if current >= 0:
                    members[int(problem.option_pool[current])].discard(item)
                members.setdefault(pool, set()).add(item)
                choice[item] = target
                break
            if current >= 0:
                capacity.take(current, size)
    return choice


def _apply(
    problem: GangProblem,
    capacity: _Capacity,
    choice: Ints,
    plan: list[tuple[int, int, int]],
    target: int,
    size: int,
) -> bool:
    """Move the plan's items one by one, each only where it fits (side resources too),
    and keep the moves only if the target then fits; otherwise undo them all."""
    done: list[tuple[int, int]] = []
    for mover, alternative, _ in plan:
        moved = int(problem.size[mover])
        capacity.take(int(choice[mover]), moved, sign=-1)
        if not capacity.fits(alternative, moved):
            capacity.take(int(choice[mover]), moved)
            break
        capacity.take(alternative, moved)
        done.append((mover, int(choice[mover])))
        choice[mover] = alternative
    else:
        if capacity.fits(target, size):
            return True
    for mover, previous in reversed(done):
        moved = int(problem.size[mover])
        capacity.take(int(choice[mover]), moved, sign=-1)
        capacity.take(previous, moved)
        choice[mover] = previous
    return False


def _evict_for(
    problem: GangProblem,
    capacity: _Capacity,
    residents: set[int],
    choice: Ints,
    target: int,
    size: int,
) -> list[tuple[int, int, int]] | None:
    """Residents of the target's pool to move out, cheapest extra cost per device first,
    each to an option with room elsewhere: [(item, new option, extra cost)], or None."""
    pool = int(problem.option_pool[target])
    need = size - int(capacity.pool[pool])
    if need <= 0:
        return [] if capacity.fits(target, size) else None
    offers = []
    for mover in residents:
        if problem.size[mover] > need * 4 and problem.size[mover] > size:
            continue  # moving a much bigger job to fit a smaller one rarely pays
        lo, hi = int(problem.option_ptr[mover]), int(problem.option_ptr[mover + 1])
        sizes = int(problem.size[mover])
        for option in (lo + np.argsort(problem.option_cost[lo:hi], kind="stable")).tolist():
            if problem.option_pool[option] != pool and capacity.fits(option, sizes):
                extra = int(problem.option_cost[option] - problem.option_cost[choice[mover]])
                offers.append((extra / sizes, mover, option, extra))
                break
    chosen, freed, taken = [], 0, capacity.pool.copy()
    for _, mover, option, extra in sorted(offers):
        if freed >= need:
            break
        sizes = int(problem.size[mover])
        other = int(problem.option_pool[option])
        if taken[other] < sizes:
            continue  # an earlier mover took that room
        taken[other] -= sizes
        chosen.append((mover, option, extra))
        freed += sizes
    return chosen if freed >= need else None


def _cheapest_cost(problem: GangProblem) -> Ints:
    """Each item's cheapest option cost (0 for items without options)."""
    out = np.zeros(problem.n_items, dtype=np.int64)
    nonempty = np.flatnonzero(np.diff(problem.option_ptr) > 0)
    if len(nonempty):
        out[nonempty] = np.minimum.reduceat(problem.option_cost, problem.option_ptr[nonempty])
    return out


def _used_capacity(problem: GangProblem, choice: Ints) -> _Capacity:
    capacity = _Capacity(problem)
    for item in np.flatnonzero(choice >= 0):
        capacity.take(int(choice[item]), int(problem.size[item]))
    return capacity


def _evaluate(problem: GangProblem, choice: Ints) -> tuple[int, int]:
    placed = np.flatnonzero(choice >= 0)
    value = sum(int(v) for v in problem.value[placed])
    cost = sum(int(c) for c in problem.option_cost[choice[placed]])
    return value, cost


def _bound(
    problem: GangProblem,
    item_of: Ints,
    choice: Ints,
    value: int,
    heavy: float,
    flow: _Flow | None,
    flow_seconds: float,
    deadline: float,
) -> int:
    """max over weights w of  F(w) + w * value,  F(w) = min over the relaxation of
    (cost - w * value): a lower bound on the cost of any plan placing >= `value`.

    The best weight is the marginal price of value: near the dearest cost per unit of
    value among the jobs placed (the 99th percentile measured best on synthetic national
    batches), so the search starts there; each try is a full flow.
    """

    def bound_at(weight: float, result: _Flow) -> float:
        return result.cost / result.scale + weight * value

    best = bound_at(heavy, flow) if flow is not None else 0.0  # the plan's own flow bounds too
    placed = np.flatnonzero(choice >= 0)
    if len(placed) == 0:
        return int(np.floor(max(best, 0.0)))
    ratio = problem.option_cost[choice[placed]] / problem.value[placed]
    start = min(heavy, max(float(np.percentile(ratio, 99)), 1e-9))
    low, high = start / 16, min(heavy, start * 16)
    weight = start
    last = flow_seconds
    for _ in range(BOUND_STEPS):
        # A flow cannot be interrupted: start one only if it can finish in time.
        if time.monotonic() + last * 1.2 > deadline or high <= low * 1.01:
            break
        result = _solve_flow(problem, item_of, weight)
        last = result.seconds
        best = max(best, bound_at(weight, result))
        if result.value > value:
            high = weight  # the relaxation places more than we did: value is cheaper
        else:
            low = weight
        weight = (low * high) ** 0.5
    return int(np.floor(max(best, 0.0)))
