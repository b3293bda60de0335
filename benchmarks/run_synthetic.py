"""Benchmark the solver on synthetic placement problems (usage: run_synthetic.py N SITES LIMIT)."""

from __future__ import annotations

import resource
import sys
import time

from router.bench.synthetic_problem import synthetic_problem
from router.solve.grouping import group_items
from router.solve.solver import solve


def main() -> None:
    n, sites, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    t = time.monotonic()
    problem = synthetic_problem(n, sites, seed)
    gen = time.monotonic() - t
    options = sum(len(i.options) for i in problem.items)
    groups = len(group_items(problem.items).items)
    t = time.monotonic()
    sol = solve(problem, limit)
    wall = time.monotonic() - t
    gap = 100.0 * (sol.cost - sol.cost_bound) / max(1, abs(sol.cost_bound))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    placed = sum(c is not None for c in sol.choice)
    print(
        f"items={n} sites={sites} resources={len(problem.capacities)} options={options} "
        f"groups={groups} gen={gen:.1f}s | solve={wall:.2f}s (limit {limit}) status={sol.status} "
        f"placed={placed} value={sol.value} cost={sol.cost} bound={sol.cost_bound} "
        f"gap={gap:.3f}% maxrss={rss:.0f}MB"
    )


if __name__ == "__main__":
    main()
