"""Grouped problem as flat numpy arrays, so the LP, bounds and greedy run vectorised.

Options of group g are the contiguous range `group_ptr[g]:group_ptr[g+1]`; option k
uses resources `use_res[use_ptr[k]:use_ptr[k+1]]` in amounts `use_amt[...]`. Options
that can never fit (an amount above a capacity) are dropped here, once.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from router.solve.grouping import Groups

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True, eq=False)
class Flat:
    """Arrays describing the grouped problem; `option_index[k]` maps back to the item's option."""

    value: IntArray  # per group
    count: IntArray  # per group
    required: BoolArray  # per group
    group_ptr: IntArray  # len groups + 1
    option_group: IntArray  # per option
    option_index: IntArray  # per option: index into the representative item's options
    cost: IntArray  # per option
    use_ptr: IntArray  # len options + 1
    use_res: IntArray
    use_amt: IntArray
    capacity: IntArray  # per resource

    @property
    def n_groups(self) -> int:
        return len(self.value)

    @property
    def n_options(self) -> int:
        return len(self.cost)

    @property
    def n_resources(self) -> int:
        return len(self.capacity)

    def use_option(self) -> IntArray:
        """For each (option, resource) use entry, the option it belongs to."""
        return np.repeat(np.arange(self.n_options, dtype=np.int64), np.diff(self.use_ptr))

    def residual(
        self, count: IntArray, keep: BoolArray, capacity: IntArray
    ) -> tuple[Flat, IntArray]:
        """A smaller problem: groups with `count` > 0 left, only the `keep` options, the
        given capacities. Returns it and, per kept option, its index in this problem."""
        keep = keep & (count[self.option_group] > 0)
        groups = np.flatnonzero(count > 0)
        new_group = np.full(self.n_groups, -1, dtype=np.int64)
        new_group[groups] = np.arange(len(groups))
        per_option_uses = np.diff(self.use_ptr)
        keep_uses = np.repeat(keep, per_option_uses)
        option_group = new_group[self.option_group[keep]]
        sizes = np.bincount(option_group, minlength=len(groups))
        sub = Flat(
            value=self.value[groups],
            count=count[groups],
            required=self.required[groups],
            group_ptr=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            option_group=option_group,
            option_index=self.option_index[keep],
            cost=self.cost[keep],
            use_ptr=np.concatenate([[0], np.cumsum(per_option_uses[keep])]).astype(np.int64),
            use_res=self.use_res[keep_uses],
            use_amt=self.use_amt[keep_uses],
            capacity=capacity,
        )
        return sub, np.flatnonzero(keep)

    def group_min(self, per_option: FloatArray) -> FloatArray:
        """Per group, the minimum of `per_option` over its options (+inf for none)."""
        out = np.full(self.n_groups, np.inf)
        nonempty = np.flatnonzero(np.diff(self.group_ptr) > 0)
        if len(nonempty):
            out[nonempty] = np.minimum.reduceat(per_option, self.group_ptr[nonempty])
        return out

    def value_of(self, y: IntArray) -> int:
        """Exact placed value of per-option amounts `y` (Python ints, no overflow)."""
        nz = np.flatnonzero(y)
        values = self.value[self.option_group[nz]]
        return sum(int(v) * int(a) for v, a in zip(values, y[nz], strict=True))

    def cost_of(self, y: IntArray) -> int:
        """Exact cost of per-option amounts `y`."""
        nz = np.flatnonzero(y)
        return sum(int(c) * int(a) for c, a in zip(self.cost[nz], y[nz], strict=True))

    def usage(self, y: IntArray) -> IntArray:
        """Resource usage of per-option amounts `y`."""
        used = np.zeros(self.n_resources, dtype=np.int64)
        np.add.at(used, self.use_res, y[self.use_option()] * self.use_amt)
        return used


def build_flat(groups: Groups, capacities: Sequence[int]) -> Flat:
    """Flatten the groups; skip options that use more of a resource than exists.

    Columns are collected in compact int64 arrays (not lists of Python ints) so that
    millions of options stay affordable in memory.
    """
    cap = list(capacities)
    option_group, option_index, cost = array("q"), array("q"), array("q")
    use_ptr, use_res, use_amt = array("q", [0]), array("q"), array("q")
    group_ptr = array("q", [0])
    for g, item in enumerate(groups.items):
        for o, option in enumerate(item.options):
            uses = option.uses
            if len(uses) == 1:  # the common case, kept fast: one pool, a positive count
                r, amount = uses[0]
                if amount > cap[r]:
                    continue
                if amount > 0:
                    use_res.append(r)
                    use_amt.append(amount)
            else:
                uses = _merged(uses)
                if any(amount > cap[r] for r, amount in uses):
                    continue
                for r, amount in uses:
                    use_res.append(r)
                    use_amt.append(amount)
            option_group.append(g)
            option_index.append(o)
            cost.append(option.cost)
            use_ptr.append(len(use_res))
        group_ptr.append(len(cost))
    return Flat(
        value=np.array([item.value for item in groups.items], dtype=np.int64),
        count=np.array(groups.counts, dtype=np.int64),
        required=np.array([item.required for item in groups.items], dtype=np.bool_),
        group_ptr=np.frombuffer(group_ptr, dtype=np.int64).copy(),
        option_group=np.frombuffer(option_group, dtype=np.int64).copy(),
        option_index=np.frombuffer(option_index, dtype=np.int64).copy(),
        cost=np.frombuffer(cost, dtype=np.int64).copy(),
        use_ptr=np.frombuffer(use_ptr, dtype=np.int64).copy(),
        use_res=np.frombuffer(use_res, dtype=np.int64).copy(),
        use_amt=np.frombuffer(use_amt, dtype=np.int64).copy(),
        capacity=np.array(cap, dtype=np.int64),
    )


def _merged(uses: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    """Uses with one positive entry per resource (an option may list a resource twice)."""
    if len(uses) == 1:
        return uses if uses[0][1] > 0 else ()
    total: dict[int, int] = {}
    for r, amount in uses:
        total[r] = total.get(r, 0) + amount
    return tuple((r, a) for r, a in total.items() if a > 0)
