"""Aggregate interchangeable items so the solver models one count per group, not per item.

Items with the same value, options and required flag are interchangeable: any
assignment can permute them freely. Modelling them as one group with an integer
count per option shrinks the model from items x options to groups x options.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from router.solver import Item


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


def expand_amounts(
    groups: Groups, amounts: Sequence[Sequence[int]], n_items: int
) -> tuple[int | None, ...]:
    """Turn per-group option amounts back into one option index (or None) per item.

    `amounts[g][o]` items of group g take option o; members are filled in order.
    """
    choice: list[int | None] = [None] * n_items
    for members, per_option in zip(groups.members, amounts, strict=True):
        k = 0
        for o, amount in enumerate(per_option):
            for _ in range(amount):
                choice[members[k]] = o
                k += 1
    return tuple(choice)
