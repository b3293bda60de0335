"""The capacity panel (PNG): devices used and free per site and accelerator type after a
plan, and the demand it could not place, by accelerator type and by origin region."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from router.model.jobs import Job
from router.model.topology import Topology
from router.results import Plan

USED = {"east": "#2b6cb0", "west": "#dd6b20"}
FREE = "#e2e8f0"
OFFLINE = "#a0aec0"
UNPLACED = "#c53030"
DPI = 120


@dataclass(frozen=True, slots=True)
class PoolUse:
    """One bar: a pool's devices in use by the plan and its capacity."""

    site: str
    accelerator: str
    zone: str
    status: str
    used: int
    capacity: int


def pool_use(topology: Topology, plan: Plan) -> list[PoolUse]:
    """Every pool, eastern sites first, with the devices the plan puts on it."""
    used: dict[tuple[str, int], int] = defaultdict(int)
    for p in plan.placements:
        used[(p.site, p.pool_index)] += p.count
    rows = [
        PoolUse(
            site.name,
            pool.accelerator,
            topology.zone_of(site),
            site.status,
            used[(site.name, index)],
            pool.count,
        )
        for site in topology.sites.values()
        for index, pool in enumerate(site.pools)
    ]
    return sorted(rows, key=lambda r: (r.zone != "east", r.site, r.accelerator))


def unplaced_demand(plan: Plan, jobs: Sequence[Job]) -> tuple[dict[str, int], dict[str, int]]:
    """Devices the plan could not place, by the accelerator type each job is sized on
    (its `hours_on` type) and by origin region."""
    by_name = {job.name: job for job in jobs}
    by_type: dict[str, int] = defaultdict(int)
    by_region: dict[str, int] = defaultdict(int)
    for missing in plan.unplaced:
        job = by_name.get(missing.job)
        if job is None:
            continue
        by_type[job.hours_on] += job.count
        by_region[job.origin] += job.count
    return dict(by_type), dict(by_region)


def draw_capacity(
    topology: Topology, plan: Plan, jobs: Sequence[Job], out: str | Path, title: str = ""
) -> Figure:
    """Used and free devices per pool (one bar per site and type), beside the unplaced
    demand by type and by region."""
    rows = pool_use(topology, plan)
    by_type, by_region = unplaced_demand(plan, jobs)
    fig = Figure(figsize=(12, max(5.0, 0.24 * len(rows) + 1.5)), dpi=DPI)
    grid = fig.add_gridspec(
        2, 2, width_ratios=[2.3, 1], hspace=0.35, wspace=0.4, top=1 - 0.9 / fig.get_figheight()
    )
    _pool_bars(fig.add_subplot(grid[:, 0]), rows)
    _demand_bars(fig.add_subplot(grid[0, 1]), by_type, "unplaced demand by accelerator type")
    _demand_bars(fig.add_subplot(grid[1, 1]), by_region, "unplaced demand by origin region")
    placed = len(plan.placements)
    fig.suptitle(
        title or f"Capacity after the plan: {placed} of {placed + len(plan.unplaced)} jobs placed",
        fontsize=12,
    )
    fig.savefig(out, bbox_inches="tight")
    return fig


def _pool_bars(ax: Axes, rows: list[PoolUse]) -> None:
    ys = list(range(len(rows)))[::-1]  # first row at the top
    for y, row in zip(ys, rows, strict=True):
        up = row.status == "up"
        colour = USED.get(row.zone, "#4a5568") if up else OFFLINE
        ax.barh(y, row.used, color=colour, gid=f"used:{row.site}:{row.accelerator}")
        ax.barh(
            y,
            row.capacity - row.used,
            left=row.used,
            color=FREE if up else "white",
            hatch="" if up else "///",
            edgecolor=OFFLINE if not up else FREE,
            gid=f"free:{row.site}:{row.accelerator}",
        )
        note = f"{row.used:,} / {row.capacity:,}" + ("" if up else f"  ({row.status})")
        ax.annotate(
            note, (row.capacity, y), xytext=(4, 0), textcoords="offset points", va="center",
            fontsize=7,
        )  # fmt: skip
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{r.site} · {r.accelerator}" for r in rows], fontsize=8)
    for label, row in zip(ax.get_yticklabels(), rows, strict=True):
        label.set_color(USED.get(row.zone, "#1a202c"))
    ax.set_xlim(0, max((r.capacity for r in rows), default=1) * 1.25)
    ax.set_xlabel("devices (used by the plan, then free)")
    ax.set_title("devices per site and accelerator type (east blue, west orange)", fontsize=10)
    ax.grid(True, axis="x", lw=0.3, alpha=0.6)
    ax.set_axisbelow(True)


def _demand_bars(ax: Axes, demand: dict[str, int], title: str) -> None:
    ax.set_title(title, fontsize=10)
    if not demand:
        ax.text(0.5, 0.5, "none: every job placed", ha="center", va="center", fontsize=9)
        ax.set_axis_off()
        return
    names = sorted(demand, key=lambda n: -demand[n])
    ys = list(range(len(names)))[::-1]
    ax.barh(ys, [demand[n] for n in names], height=0.6, color=UNPLACED, alpha=0.85, gid="unplaced")
    for y, name in zip(ys, names, strict=True):
        ax.annotate(
            f"{demand[name]:,}", (demand[name], y), xytext=(3, 0), textcoords="offset points",
            va="center", fontsize=7,
        )  # fmt: skip
    ax.set_yticks(ys)
    ax.set_yticklabels(names, fontsize=8)
    ax.set_ylim(-0.7, max(len(names), 5) - 0.3)  # a few bars stay bar-shaped
    ax.set_xlim(0, max(demand.values()) * 1.3)
    ax.set_xlabel("devices")
    ax.grid(True, axis="x", lw=0.3, alpha=0.6)
    ax.set_axisbelow(True)
