"""Plan one workload family and measure it: wall and CPU time, memory, cost, bound, work.

In process, the plan is timed from the parsed topology and jobs. From files, the
topology and jobs are written to a temporary folder and the real `westward plan --json`
runs in a subprocess, timed end to end (what users run). Either way the work placed is
compared with the LP-maximal work of the same model, computed separately (untimed).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from router.bench.families import Family
from router.bench.synthetic import family_workload
from router.model.jobs import Job, parse_jobs
from router.model.topology import Topology
from router.model.topology_data import topology_data
from router.place.candidates import batch_options, pool_table
from router.place.costs import MILLI, work_units
from router.plan import make_context, placement_problem, plan_jobs
from router.solve.problem import Ints, Problem
from router.solve.relax import max_value_lp, min_cost_lp, value_bound

LP_MAX_SECONDS = 300.0  # the reference LP is untimed, but not unbounded


@dataclass(frozen=True)
class FamilyResult:
    """One family at one size: time, memory and plan quality."""

    family: str
    jobs: int
    sites: int
    from_files: bool
    wall_s: float
    user_s: float  # CPU time in user mode (the machine may be shared)
    peak_memory_mb: float
    placed: int
    total_cost_cny: float
    lower_bound_cny: float
    gap_pct: float  # cost over the bound at the work placed
    over_placed_lp_pct: float | None  # cost over the LP minimum for exactly the jobs
    # placed (None when that LP did not finish in LP_MAX_SECONDS)
    work_placed_pct: float  # of the LP-maximal work (of all work when the LP did not finish)
    lp_max_solved: bool
    status: str


def run_family(
    base: Topology,
    family: Family,
    jobs: int,
    sites: int,
    *,
    seed: int = 0,
    time_limit_s: float = 3.0,
    from_files: bool = False,
) -> FamilyResult:
    """Generate the family's workload, plan it (in process or from files), measure."""
    topology, rows = family_workload(base, family, jobs, sites, seed)
    batch = parse_jobs({"jobs": rows}, topology)
    if from_files:
        outcome = _plan_from_files(topology, rows, time_limit_s)
    else:
        outcome = _plan_in_process(topology, batch, time_limit_s)
    plan, wall, user, peak_mb = outcome
    work = {job.name: work_units(job) for job in batch}
    placed_work = sum(work[p["job"]] for p in plan["placements"])
    problem = batch_problem(topology, batch)  # one model for both reference LPs
    lp_max, lp_solved = lp_maximal_work(problem)
    placed = {p["job"] for p in plan["placements"]}
    items = np.array([k for k, job in enumerate(batch) if job.name in placed], dtype=np.int64)
    placed_lp = placed_lp_cost(problem, items)
    cost, bound = float(plan["total_cost_cny"]), float(plan["lower_bound_cny"])
    return FamilyResult(
        family=family.name,
        jobs=jobs,
        sites=len(topology.sites),
        from_files=from_files,
        wall_s=round(wall, 3),
        user_s=round(user, 3),
        peak_memory_mb=round(peak_mb, 1),
        placed=len(plan["placements"]),
        total_cost_cny=round(cost, 2),
        lower_bound_cny=round(bound, 2),
        gap_pct=round(max(0.0, 100 * (cost - bound) / cost) if cost > 0 else 0.0, 4),
        over_placed_lp_pct=None if placed_lp is None else _over(cost, placed_lp),
        work_placed_pct=round(100 * placed_work / lp_max, 3) if lp_max > 0 else 100.0,
        lp_max_solved=lp_solved,
        status=str(plan["solver"]["status"]),
    )


def lp_maximal_work(problem: Problem) -> tuple[float, bool]:
    """The most work the LP relaxation places (in work units), the yardstick for plans;
    when the LP does not finish in LP_MAX_SECONDS, the upper bound its duals prove (so
    the share placed is understated, never overstated), and False."""
    prices = max_value_lp(problem, time.monotonic() + LP_MAX_SECONDS)
    if prices.x is None or not prices.optimal:
        return float(value_bound(problem, prices)), False
    return float(problem.value[problem.option_item] @ prices.x), True


def placed_lp_cost(problem: Problem, items: Ints) -> float | None:
    """The LP minimum cost (CNY) of placing exactly the jobs `items`, every one of them:
    the yardstick for how cheaply a plan places what it places (None if the LP does not
    finish in LP_MAX_SECONDS)."""
    every = np.ones(problem.n_options, dtype=np.bool_)
    chosen, _ = problem.restrict(every, items=items)
    chosen = replace(chosen, required=np.ones(chosen.n_items, dtype=np.bool_))
    prices = min_cost_lp(chosen, 0, time.monotonic() + LP_MAX_SECONDS)
    if prices.x is None or not prices.optimal:
        return None
    return float(chosen.cost @ prices.x) / MILLI


def _over(cost: float, reference: float) -> float:
    return round(100 * (cost - reference) / reference, 4) if reference > 0 else 0.0


def batch_problem(topology: Topology, jobs: Sequence[Job]) -> Problem:
    """The solver's model of a batch, as `plan_jobs` builds it (no free counts, quotas)."""
    ctx = make_context(topology)
    table = pool_table(ctx)
    return placement_problem(jobs, batch_options(jobs, ctx, table), table, ctx)


def _plan_in_process(
    topology: Topology, batch: list[Job], time_limit_s: float
) -> tuple[dict[str, Any], float, float, float]:
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    plan = plan_jobs(topology, batch, time_limit_s=time_limit_s)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    summary = {
        "placements": [{"job": p.job} for p in plan.placements],
        "total_cost_cny": plan.total_cost_cny,
        "lower_bound_cny": plan.lower_bound_cny,
        "solver": {"status": plan.solver_status},
    }
    return summary, wall, after.ru_utime - before.ru_utime, after.ru_maxrss / 1024


def _plan_from_files(
    topology: Topology, rows: list[dict[str, Any]], time_limit_s: float
) -> tuple[dict[str, Any], float, float, float]:
    """`westward plan --json` in a subprocess on files written here; its own rusage."""
    with tempfile.TemporaryDirectory(prefix="westward-bench-") as folder:
        topology_file = Path(folder) / "topology.yaml"
        jobs_file = Path(folder) / "jobs.yaml"
        _write_yaml(topology_file, topology_data(topology))
        _write_yaml(jobs_file, {"jobs": rows})
        command = [sys.executable, "-m", "router.cli", "plan", "--topology", str(topology_file)]
        command += ["--jobs", str(jobs_file), "--time-limit", f"{time_limit_s:g}", "--json"]
        out_file, err_file = Path(folder) / "plan.json", Path(folder) / "stderr.txt"
        with out_file.open("wb") as out, err_file.open("wb") as err:
            start = time.perf_counter()
            child = subprocess.Popen(command, stdout=out, stderr=err)
            _, status, usage = os.wait4(child.pid, 0)  # this child's own CPU time and RSS
            wall = time.perf_counter() - start
        child.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            error = err_file.read_text(encoding="utf-8", errors="replace").strip()
            raise RuntimeError(f"westward plan exited {code}: {error}")
        plan = json.loads(out_file.read_text(encoding="utf-8"))
    return plan, wall, usage.ru_utime, usage.ru_maxrss / 1024


def _write_yaml(path: Path, data: object) -> None:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    with path.open("w", encoding="utf-8") as f:
        yaml.dump(data, f, Dumper=dumper, sort_keys=False, allow_unicode=True)
