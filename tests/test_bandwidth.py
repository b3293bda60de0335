"""Deadline jobs share link bandwidth: a plan never schedules more transfer than a link carries."""

from __future__ import annotations

from typing import Any

from router.model.jobs import parse_jobs
from router.model.topology import Topology
from router.plan import plan_jobs


def _jobs(mini: Topology, n: int, deadline: float | None) -> list[Any]:
    rows = []
    for i in range(n):
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
        rows.append(row)
    return parse_jobs({"jobs": rows}, mini)


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
