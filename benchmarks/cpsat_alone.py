"""CP-SAT alone on a family's whole model, for comparison with the pipeline.

usage: python benchmarks/cpsat_alone.py FAMILY JOBS SITES SECONDS
Prints the work placed (share of the LP maximum), the cost and the pipeline's bound
definition (the cost LP at the work placed) so the two can be compared like for like.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from router.bench.families import FAMILIES
from router.bench.measure import batch_problem, lp_maximal_work, placed_lp_cost
from router.bench.synthetic import family_workload
from router.model.jobs import parse_jobs
from router.model.topology import default_topology
from router.solve.construct import empty_pick, fill
from router.solve.cpsat import solve_cpsat
from router.solve.relax import cost_bound, min_cost_lp


def main() -> None:
    family, jobs, sites, seconds = (
        sys.argv[1],
        int(sys.argv[2]),
        int(sys.argv[3]),
        float(sys.argv[4]),
    )
    topology, rows = family_workload(default_topology(), FAMILIES[family], jobs, sites)
    batch = parse_jobs({"jobs": rows}, topology)
    problem = batch_problem(topology, batch)
    lp_max, _ = lp_maximal_work(problem)
    hint = fill(problem, empty_pick(problem))  # the same greedy start the pipeline has
    start = time.monotonic()
    found = solve_cpsat(problem, start + seconds, hint=hint, workers=2)
    pick = found.pick if found.pick is not None else hint
    value, cost = problem.value_of(pick), problem.cost_of(pick)
    at_value = min_cost_lp(problem, value, time.monotonic() + 600)
    bound = cost_bound(problem, at_value, value)[0]
    placed_lp = placed_lp_cost(problem, np.flatnonzero(pick >= 0)) or float("nan")
    print(
        f"{family}: {jobs} x {sites}, CP-SAT {seconds:g} s, 2 workers: "
        f"work {100 * value / lp_max:.3f}% of LP max, cost {cost / 1000:,.0f} CNY, "
        f"bound {bound / 1000:,.0f} CNY, gap {100 * (cost - bound) / cost:.3f}%, "
        f"over the LP of the jobs placed {100 * (cost / 1000 - placed_lp) / placed_lp:.3f}%"
    )


if __name__ == "__main__":
    main()
