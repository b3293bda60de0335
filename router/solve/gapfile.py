"""Read OR-Library generalised assignment (GAP) files into solver problems.

A file is a stream of whitespace-separated integers: `m n`, the m x n cost matrix,
the m x n resource matrix and m capacities. OR-Library's gap1..gap12 put a count line
first and then that many instances; both layouts are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from router.errors import FieldProblem, InvalidInputError
from router.solve.problem import Problem, check_problem


@dataclass(frozen=True, slots=True)
class GapInstance:
    """One GAP instance: cost[i][j] and use[i][j] of giving item j to agent i (minimise)."""

    name: str
    cost: tuple[tuple[int, ...], ...]
    use: tuple[tuple[int, ...], ...]
    capacities: tuple[int, ...]

    @property
    def agents(self) -> int:
        return len(self.capacities)

    @property
    def items(self) -> int:
        return len(self.cost[0]) if self.cost else 0


def load_gap(path: str | Path) -> list[GapInstance]:
    """Read every instance in `path`; raises InvalidInputError naming the file and the problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            [FieldProblem("", f"cannot read GAP file: {exc}", str(path))]
        ) from exc
    return parse_gap(text, name=path.stem, file=str(path))


def parse_gap(text: str, *, name: str, file: str | None = None) -> list[GapInstance]:
    """Parse GAP text: one instance (first line `m n`), or a count line (a single number
    alone on the first line) followed by that many instances."""
    tokens = _tokens(text, file)
    if not tokens:
        raise _error(file, None, "expected 'm n' (agents, items) at the start, got no numbers")
    first_line = tokens[0][1]
    multi = len(tokens) == 1 or tokens[1][1] != first_line
    if not multi:
        instance, pos = _instance(tokens, 0, name, file)
        instances = [instance]
    else:
        count = tokens[0][0]
        if count <= 0:
            raise _error(file, first_line, f"expected a positive instance count, got {count}")
        instances, pos = [], 1
        for k in range(count):
            instance, pos = _instance(tokens, pos, f"{name}-{k}", file)
            instances.append(instance)
    if pos != len(tokens):
        raise _error(
            file,
            tokens[pos][1],
            f"expected end of file after {len(instances)} instance(s), "
            f"got {len(tokens) - pos} extra numbers",
        )
    return instances


def gap_problem(instance: GapInstance) -> Problem:
    """The instance in the one problem form: every item required, one option per agent
    (item-major), each using its amount of that agent's capacity."""
    m, n = instance.agents, instance.items
    cost = np.array(instance.cost, dtype=np.int64).T.reshape(-1)  # item j, agent i
    use = np.array(instance.use, dtype=np.int64).T.reshape(-1)
    problem = Problem(
        value=np.ones(n, dtype=np.int64),
        required=np.ones(n, dtype=np.bool_),
        item_ptr=np.arange(0, m * n + 1, m, dtype=np.int64),
        cost=cost,
        use_ptr=np.arange(m * n + 1, dtype=np.int64),
        use_res=np.tile(np.arange(m, dtype=np.int64), n),
        use_amt=use,
        capacity=np.array(instance.capacities, dtype=np.int64),
    )
    check_problem(problem)
    return problem


def _instance(
    tokens: list[tuple[int, int]], pos: int, name: str, file: str | None
) -> tuple[GapInstance, int]:
    """Parse one instance starting at tokens[pos]; return it and the next position."""
    if pos + 2 > len(tokens):
        raise _error(file, None, f"instance {name}: expected 'm n', got end of file")
    m, n = tokens[pos][0], tokens[pos + 1][0]
    if m <= 0 or n <= 0:
        raise _error(file, tokens[pos][1], f"instance {name}: m and n must be > 0, got {m} {n}")
    need = 2 * m * n + m
    body = tokens[pos + 2 : pos + 2 + need]
    if len(body) < need:
        raise _error(
            file,
            None,
            f"instance {name}: expected {need} numbers after 'm n' = '{m} {n}' "
            f"(costs, resources, capacities), got {len(body)}",
        )
    values = [v for v, _ in body]
    for v, line in body:
        if v < 0:
            raise _error(file, line, f"instance {name}: numbers must be >= 0, got {v}")
    cost = tuple(tuple(values[i * n : (i + 1) * n]) for i in range(m))
    use = tuple(tuple(values[m * n + i * n : m * n + (i + 1) * n]) for i in range(m))
    capacities = tuple(values[2 * m * n :])
    return GapInstance(name, cost, use, capacities), pos + 2 + need


def _tokens(text: str, file: str | None) -> list[tuple[int, int]]:
    """All integers in `text` with their 1-based line numbers."""
    out: list[tuple[int, int]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        for word in line.split():
            try:
                out.append((int(word), line_no))
            except ValueError:
                raise _error(file, line_no, f"expected a whole number, got {word!r}") from None
    return out


def _error(file: str | None, line: int | None, message: str) -> InvalidInputError:
    return InvalidInputError([FieldProblem("", message, file, line)])
