"""The one problem form: items choosing at most one option each, options using resources.

Every item (a job, a GAP item) has an integer value and may be `required`. Its options
are the CSR range `item_ptr[i]:item_ptr[i+1]`, each with an integer cost and the integer
amounts it uses of shared resources (`use_ptr` CSR over options): a pool's devices (the
amount may differ per option: service jobs scale their device count by the part) and,
for deadline jobs, bandwidth on every link of the path. The objective is lexicographic:
most value placed (required items always), then least cost. Integers only.

An assignment is `pick`: per item, the global index of its option, or -1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from router.errors import FieldProblem, InvalidInputError

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

SAFE = 2**62  # totals of values and costs stay inside int64
CAPACITY_MAX = 2**40
UNPLACED = -1


@dataclass(frozen=True, eq=False)
class Problem:
    """Items, their options (CSR), and the resources options use (CSR)."""

    value: Ints  # per item
    required: Bools  # per item
    item_ptr: Ints  # len items + 1
    cost: Ints  # per option
    use_ptr: Ints  # len options + 1
    use_res: Ints  # per use
    use_amt: Ints  # per use
    capacity: Ints  # per resource

    @property
    def n_items(self) -> int:
        return len(self.value)

    @property
    def n_options(self) -> int:
        return len(self.cost)

    @property
    def n_resources(self) -> int:
        return len(self.capacity)

    @cached_property
    def option_item(self) -> Ints:
        """The item each option belongs to."""
        return np.repeat(np.arange(self.n_items, dtype=np.int64), np.diff(self.item_ptr))

    @cached_property
    def use_option(self) -> Ints:
        """The option each use entry belongs to."""
        return np.repeat(np.arange(self.n_options, dtype=np.int64), np.diff(self.use_ptr))

    @cached_property
    def main_use(self) -> tuple[Ints, Ints]:
        """Each option's first use (a pool's devices): its resource (-1 for an option using
        nothing) and amount (0)."""
        has_use = np.diff(self.use_ptr) > 0
        first = self.use_ptr[:-1][has_use]
        resource = np.full(self.n_options, -1, dtype=np.int64)
        amount = np.zeros(self.n_options, dtype=np.int64)
        resource[has_use], amount[has_use] = self.use_res[first], self.use_amt[first]
        return resource, amount

    def item_min(self, per_option: Floats) -> Floats:
        """Per item, the minimum of `per_option` over its options (+inf for none)."""
        out = np.full(self.n_items, np.inf)
        nonempty = np.flatnonzero(np.diff(self.item_ptr) > 0)
        if len(nonempty):
            out[nonempty] = np.minimum.reduceat(per_option, self.item_ptr[nonempty])
        return out

    def per_option(self, per_use: Floats) -> Floats:
        """Sum a per-use quantity over each option's uses."""
        out = np.bincount(self.use_option, weights=per_use, minlength=self.n_options)
        return out.astype(np.float64, copy=False)

    def ranked(self, score: Floats) -> Ints:
        """Each option's rank by `score` among its item's options (0 = best)."""
        order = np.lexsort((score, self.option_item))
        rank = np.empty(self.n_options, dtype=np.int64)
        rank[order] = np.arange(self.n_options) - self.item_ptr[self.option_item[order]]
        return rank

    def value_of(self, pick: Ints) -> int:
        """Exact value placed (Python ints: no overflow)."""
        return sum(int(v) for v in self.value[pick >= 0])

    def cost_of(self, pick: Ints) -> int:
        """Exact cost of the options picked."""
        return sum(int(c) for c in self.cost[pick[pick >= 0]])

    def usage(self, pick: Ints) -> Ints:
        """Resource usage of an assignment."""
        chosen = np.zeros(self.n_options, dtype=np.bool_)
        chosen[pick[pick >= 0]] = True
        on = chosen[self.use_option]
        return np.bincount(
            self.use_res[on], weights=self.use_amt[on], minlength=self.n_resources
        ).astype(np.int64)

    def feasible(self, pick: Ints) -> bool:
        """Capacities hold and every required item is placed."""
        return bool(np.all(self.usage(pick) <= self.capacity) and np.all(pick[self.required] >= 0))

    def restrict(
        self, keep: Bools, capacity: Ints | None = None, items: Ints | None = None
    ) -> tuple[Problem, Ints]:
        """A smaller problem: only the `keep` options, optionally only the given items
        (renumbered in that order) and other capacities. Returns it and, per option of
        it, the option's index here."""
        if items is None:
            items = np.arange(self.n_items, dtype=np.int64)
        else:
            member = np.zeros(self.n_items, dtype=np.bool_)
            member[items] = True
            keep = keep & member[self.option_item]
        renumber = np.full(self.n_items, -1, dtype=np.int64)
        renumber[items] = np.arange(len(items))
        index = np.flatnonzero(keep)
        index = index[np.argsort(renumber[self.option_item[index]], kind="stable")]
        counts = np.diff(self.use_ptr)[index]
        starts = np.repeat(self.use_ptr[index], counts)
        offsets = np.arange(int(counts.sum())) - np.repeat(_ptr(counts)[:-1], counts)
        uses = starts + offsets
        sub = Problem(
            value=self.value[items],
            required=self.required[items],
            item_ptr=_ptr(np.bincount(renumber[self.option_item[index]], minlength=len(items))),
            cost=self.cost[index],
            use_ptr=_ptr(counts),
            use_res=self.use_res[uses],
            use_amt=self.use_amt[uses],
            capacity=self.capacity if capacity is None else capacity,
        )
        return sub, index


def grouped(keys: Ints, n: int) -> tuple[Ints, list[int]]:
    """Indices grouped by key: `order[bounds[k] : bounds[k + 1]]` are those whose key is
    k (0 <= k < n), in their original order; negative keys belong to no group."""
    order = np.argsort(keys, kind="stable")
    bounds: list[int] = np.searchsorted(keys[order], np.arange(n + 1)).tolist()
    return order, bounds


def translate(pick: Ints, mapping: Ints) -> Ints:
    """An assignment with each picked option renamed through `mapping` (unplaced stays -1)."""
    out = np.full(len(pick), UNPLACED, dtype=np.int64)
    placed = pick >= 0
    out[placed] = mapping[pick[placed]]
    return out


def inverse(index: Ints, n: int) -> Ints:
    """The mapping back from `restrict`'s option index (options left out map to -1)."""
    where = np.full(n, UNPLACED, dtype=np.int64)
    where[index] = np.arange(len(index))
    return where


def build_problem(
    items: Sequence[tuple[int, bool, Sequence[tuple[int, Sequence[tuple[int, int]]]]]],
    capacity: Sequence[int],
) -> Problem:
    """A problem from lists: items as (value, required, [(cost, [(resource, amount)])]).

    Uses of one resource in one option are summed; zero amounts are dropped."""
    value: list[int] = []
    required: list[bool] = []
    sizes: list[int] = []
    cost: list[int] = []
    use_sizes: list[int] = []
    res: list[int] = []
    amt: list[int] = []
    for item_value, item_required, options in items:
        value.append(item_value)
        required.append(item_required)
        sizes.append(len(options))
        for option_cost, uses in options:
            merged: dict[int, int] = {}
            for r, a in uses:
                merged[r] = merged.get(r, 0) + a
            kept = [(r, a) for r, a in merged.items() if a != 0]
            cost.append(option_cost)
            use_sizes.append(len(kept))
            res.extend(r for r, _ in kept)
            amt.extend(a for _, a in kept)
    problem = Problem(
        value=np.array(value, dtype=np.int64),
        required=np.array(required, dtype=np.bool_),
        item_ptr=_ptr(sizes),
        cost=np.array(cost, dtype=np.int64),
        use_ptr=_ptr(use_sizes),
        use_res=np.array(res, dtype=np.int64),
        use_amt=np.array(amt, dtype=np.int64),
        capacity=np.array(capacity, dtype=np.int64),
    )
    check_problem(problem)
    return problem


def check_problem(problem: Problem) -> None:
    """Raise InvalidInputError naming every bad field (sign, range, size, duplicates)."""
    p = problem
    problems: list[FieldProblem] = []

    def flag(where: str, bad: Bools, message: str) -> None:
        for k in np.flatnonzero(bad)[:5]:
            problems.append(FieldProblem(f"{where}[{k}]", message))

    flag("capacity", (p.capacity < 0) | (p.capacity > CAPACITY_MAX), "must be in 0..2**40")
    flag("value", p.value < 0, "must be >= 0")
    flag("use_amt", p.use_amt < 0, "amount must be >= 0")
    out_of_range = (p.use_res < 0) | (p.use_res >= p.n_resources)
    flag("use_res", out_of_range, f"resource must be in 0..{p.n_resources - 1}")
    if not out_of_range.any() and len(p.use_res):
        key = p.use_option * max(p.n_resources, 1) + p.use_res
        twice = np.zeros(len(key), dtype=np.bool_)
        twice[np.argsort(key, kind="stable")[1:]] = np.diff(np.sort(key)) == 0
        flag("use_res", twice, "an option lists this resource twice")
    if float(p.value.astype(np.float64).sum()) >= SAFE:
        problems.append(FieldProblem("value", "total value must be < 2**62"))
    worst = np.abs(p.cost).astype(np.float64)
    if len(worst) and float(np.nan_to_num(p.item_min(-worst), posinf=0.0).sum()) <= -SAFE:
        problems.append(FieldProblem("cost", "total |cost| must be < 2**62"))
    if problems:
        raise InvalidInputError(problems)


def _ptr(sizes: Sequence[int] | Ints) -> Ints:
    return np.concatenate([[0], np.cumsum(np.asarray(sizes, dtype=np.int64))]).astype(np.int64)
