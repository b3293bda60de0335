"""Trace the solver's phases on a synthetic problem (usage: trace_synthetic.py N SITES LIMIT)."""

from __future__ import annotations

import sys
import time

from router.bench.synthetic_problem import synthetic_problem
from router.solve.flat import build_flat
from router.solve.grouping import group_items
from router.solve.optimise import optimise


def main() -> None:
    n, sites, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    problem = synthetic_problem(n, sites, int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    start = time.monotonic()
    print(f"{start:.2f} start")
    flat = build_flat(group_items(problem.items), problem.capacities)
    print(f"{time.monotonic():.2f} flat: {flat.n_groups} groups, {flat.n_options} options")
    out = optimise(flat, start + limit, log=print)
    print(f"{time.monotonic():.2f} done: bound {out.cost_bound}, value bound {out.value_bound}")


if __name__ == "__main__":
    main()
