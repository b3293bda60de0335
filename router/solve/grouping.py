"""Aggregate interchangeable items so the solver models one count per group, not per item.

Items with the same value, options and required flag are interchangeable: any
assignment can permute them freely. Modelling them as one group with an integer
count per option shrinks the model from items x options to groups x options.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from router.solve.flat import Flat, IntArray
    from router.solve.solver import Item


@dataclass(frozen=True, slots=True)
class Groups:
    """Interchangeable items: one representative per group and the member item indices."""

    items: tuple[Item, ...]
    members: tuple[tuple[int, ...], ...]

    @property
    def counts(self) -> list[int]:
        """How many items each group holds."""
        return [len(m) for m in self.members]


def group_items(items: Sequence[Item]) -> Groups:
    """Group identical items, keeping first-seen order (deterministic)."""
    index_by_item: dict[Item, int] = {}
    index_by_id: dict[int, int] = {}
    reps: list[Item] = []
    members: list[list[int]] = []
    for i, item in enumerate(items):
        g = index_by_id.get(id(item))
        if g is None:
            g = index_by_item.get(item)
            if g is None:
                g = len(reps)
                index_by_item[item] = g
                reps.append(item)
                members.append([])
            index_by_id[id(item)] = g
        members[g].append(i)
    return Groups(tuple(reps), tuple(tuple(m) for m in members))


def expand_flat(groups: Groups, flat: Flat, y: IntArray, n_items: int) -> tuple[int | None, ...]:
    """Turn per-option amounts `y` of the flat grouped problem into one choice per item.

    `y[k]` members of group `flat.option_group[k]` take option `flat.option_index[k]`;
    members are filled in order.
    """
    choice: list[int | None] = [None] * n_items
    taken = [0] * len(groups.members)
    for k in np.flatnonzero(y):
        g = int(flat.option_group[k])
        members = groups.members[g]
        start = taken[g]
        for i in members[start : start + int(y[k])]:
            choice[i] = int(flat.option_index[k])
        taken[g] = start + int(y[k])
    return tuple(choice)
