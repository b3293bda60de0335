"""Trace the solver's phases on the placer's own synthetic benchmark problem.

usage: trace_placer.py JOBS SITES LIMIT [SEED]  (the problem `westward bench synthetic` plans)
"""

from __future__ import annotations

import sys
import time

from router.bench.synthetic import synthetic_jobs, synthetic_topology
from router.cli.common import topology_from
from router.plan import _problem, batch_options, make_context, pool_table
from router.solve.flat import build_flat
from router.solve.grouping import group_items
from router.solve.optimise import optimise


def main() -> None:
    n, sites, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    topology = synthetic_topology(topology_from(None), sites, seed)
    jobs = synthetic_jobs(topology, n, seed)
    ctx = make_context(topology, None, 0.0, None)
    table = pool_table(ctx)
    problem = _problem(jobs, batch_options(jobs, ctx, table), table, ctx)
    start = time.monotonic()
    print(f"{start:.2f} start: {len(problem.items)} items, {len(problem.capacities)} resources")
    flat = build_flat(group_items(problem.items), problem.capacities)
    print(f"{time.monotonic():.2f} flat: {flat.n_groups} groups, {flat.n_options} options")
    out = optimise(flat, start + limit, log=print)
    print(f"{time.monotonic():.2f} done: bound {out.cost_bound}, value bound {out.value_bound}")


if __name__ == "__main__":
    main()
