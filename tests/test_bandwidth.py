"""Deadline jobs share link bandwidth: a plan never schedules more transfer than a link carries."""

from __future__ import annotations

import math
from typing import Any

from router.model.jobs import parse_jobs
from router.model.topology import Topology
from router.place.candidates import batch_options, pool_table
from router.plan import make_context, placement_problem, plan_jobs
from router.state.quotas import BatchQuotas, Limit, QuotaPolicy, TenantQuota


def _job_row(i: int, deadline: float | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": f"ingest-{i}",
        "kind": "training",
        "origin": "shanghai",
        "max_latency_ms": 100,
        "accelerators": {"count": 16, "types": ["A800"]},
        "hours": 10,
        "data_gb": 13500,  # over a 0.5 h window: 60 Gbps
    }
    if deadline is not None:
        row["deadline_hours"] = deadline
    return row


def _jobs(mini: Topology, n: int, deadline: float | None) -> list[Any]:
    return parse_jobs({"jobs": [_job_row(i, deadline) for i in range(n)]}, mini)


def test_without_deadlines_both_jobs_take_the_cheaper_western_site(mini: Topology) -> None:
    plan = plan_jobs(mini, _jobs(mini, 2, None), time_limit_s=5)
    assert sorted(p.site for p in plan.placements) == ["zhongwei", "zhongwei"]


def test_two_60_gbps_transfers_do_not_share_a_100_gbps_link(mini: Topology) -> None:
    plan = plan_jobs(mini, _jobs(mini, 2, deadline=10.5), time_limit_s=5)
    assert sorted(p.site for p in plan.placements) == ["qingpu", "zhongwei"]
    assert plan.solver_status == "optimal"


def test_a_job_that_only_fits_over_a_full_link_is_reported(mini: Topology) -> None:
    jobs = _jobs(mini, 3, deadline=10.5)
    free = {("qingpu", 0): 0}  # the eastern site has no A800 left
    plan = plan_jobs(mini, jobs, free=free, time_limit_s=5)
    assert [p.site for p in plan.placements] == ["zhongwei"]
    assert len(plan.unplaced) == 2
    assert all("link bandwidth went to" in u.reason for u in plan.unplaced)


def test_each_option_uses_its_pool_then_its_paths_links_then_its_quota_rows(
    mini: Topology,
) -> None:
    """The uses the solver sees, option by option, from first principles: a governed
    deadline job's option takes its devices from its pool, its transfer rate from every
    link of the router's path, and its devices from its tenant's quota rows."""
    rows = [
        {**row, "tenant": tenant}
        for row, tenant in zip(
            [_job_row(i, deadline) for i, deadline in enumerate([10.5, None, 12.0])],
            ["team-a", "team-b", "team-a"],
            strict=True,
        )
    ]
    jobs = parse_jobs({"jobs": rows}, mini)
    policy = QuotaPolicy({"team-a": TenantQuota("team-a", {"*": Limit(64)}, cohort="lab")})
    quotas = BatchQuotas(policy, {})
    ctx = make_context(mini)
    table = pool_table(ctx)
    options = batch_options(jobs, ctx, table)
    problem = placement_problem(jobs, options, table, ctx, quotas)
    n_pools, n_links = len(table.keys), len(mini.links)
    assert problem.n_resources == n_pools + n_links + len(quotas.capacities)
    for k, (job, job_options) in enumerate(zip(jobs, options, strict=True)):
        for n, pool in enumerate(job_options.pools.tolist()):
            option = int(problem.item_ptr[k]) + n
            uses = list(
                zip(
                    problem.use_res[problem.use_ptr[option] : problem.use_ptr[option + 1]].tolist(),
                    problem.use_amt[problem.use_ptr[option] : problem.use_ptr[option + 1]].tolist(),
                    strict=True,
                )
            )
            devices = int(job_options.devices[n])
            site, index = table.keys[pool]
            expected = [(pool, devices)]
            if job.deadline_hours is not None:
                window_s = (job.deadline_hours - float(job_options.run_hours[n])) * 3600
                rate = math.ceil(job.data_gb * 8 * 1000 / window_s)
                path = ctx.network.path(job.origin, site)
                assert path is not None and path.links
                expected += [(n_pools + link, rate) for link in path.links]
            if job.tenant == "team-a":
                accelerator = mini.sites[site].pools[index].accelerator
                rows_a = quotas.rows_for("team-a", accelerator)
                assert len(rows_a) == 2  # the tenant's own and its cohort's
                expected += [(n_pools + n_links + row, devices) for row in rows_a]
            assert uses == expected, (job.name, site)
