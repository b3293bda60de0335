"""Pictures (PNG, matplotlib): the topology map with a plan's flows, a comparison of
scenarios, and a sweep as a line chart.

Drawing only: figures are built with the object API on an Agg canvas (no pyplot, no
window, no global state) and written to the given path.
"""

from __future__ import annotations

import math
import textwrap
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Colormap, ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch

from router.model.topology import Topology
from router.results import Plan
from router.whatif.compare import Comparison, ScenarioOutcome, SweepResult

ZONE_COLOURS = {"east": "#2b6cb0", "west": "#dd6b20"}
DOWN_COLOUR = "#9e9e9e"
DPI = 120


def draw_map(
    topology: Topology, out: str | Path, plan: Plan | None = None, title: str = ""
) -> None:
    """Sites by zone (size = devices), regions, links coloured by latency and, with a plan,
    arrows from each origin to the sites its work went to (width = device-hours)."""
    fig = Figure(figsize=(11, 8.5), dpi=DPI)
    ax = fig.add_subplot()
    coords = _coordinates(topology)
    norm = Normalize(vmin=0, vmax=max((ln.latency_ms for ln in topology.links), default=1.0))
    cmap = _link_colours()
    for link in topology.links:
        (x1, y1), (x2, y2) = coords[link.a], coords[link.b]
        style = "-" if link.status == "up" else ":"
        ax.plot(
            [x1, x2],
            [y1, y2],
            style,
            color=cmap(norm(link.latency_ms)),
            lw=0.7,
            alpha=0.55,
            zorder=1,
        )
    if plan is not None:
        _draw_flows(ax, plan, coords)
    labels = _draw_sites(ax, topology)
    for region in topology.regions.values():
        ax.scatter(region.lon, region.lat, marker="s", s=70, color="#1a202c", zorder=5)
        labels.append(Label(region.lon, region.lat, region.name, 9.0, "bold", 5.0))
    for exchange in topology.exchanges.values():
        ax.scatter(exchange.lon, exchange.lat, marker="D", s=30, color="#4a5568", zorder=4)
        labels.append(Label(exchange.lon, exchange.lat, exchange.name, 7.0, "normal", 3.0))
    colourbar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.6, pad=0.03)
    colourbar.set_label("link latency, one-way (ms)")
    handles = [
        Line2D([], [], marker="o", ls="", color=ZONE_COLOURS["east"], label="east site"),
        Line2D([], [], marker="o", ls="", color=ZONE_COLOURS["west"], label="west site"),
        Line2D([], [], marker="X", ls="", color=DOWN_COLOUR, label="site down / drain"),
        Line2D([], [], marker="s", ls="", color="#1a202c", label="demand region"),
    ]
    if plan is not None:
        handles += [
            Line2D([], [], color=ZONE_COLOURS["west"], lw=3, alpha=0.6, label="work sent west"),
            Line2D([], [], color=ZONE_COLOURS["east"], lw=3, alpha=0.6, label="work kept east"),
        ]
    ax.legend(handles=handles, loc="lower left", fontsize=8, framealpha=0.9)
    mean_lat = sum(y for _, y in coords.values()) / max(1, len(coords))
    ax.set_aspect(1 / math.cos(math.radians(mean_lat)))
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.grid(True, lw=0.3, alpha=0.5)
    xs = [x for x, _ in coords.values()]
    ys = [y for _, y in coords.values()]
    ax.set_xlim(min(xs) - 3.0, max(xs) + 4.5)  # room for labels beside the points
    ax.set_ylim(min(ys) - 1.5, max(ys) + 1.5)
    ax.set_title(title or _map_title(topology, plan), fontsize=11)
    _place_labels(ax, labels)
    fig.savefig(out, bbox_inches="tight")


@dataclass(frozen=True, slots=True)
class Label:
    """A text to put beside a marker of `radius` points at (x, y)."""

    x: float
    y: float
    text: str
    size: float
    weight: str
    radius: float


# Offsets (points) and alignment tried for each label, in order of preference.
_SPOTS = (
    (1, 1, "left", "bottom"),
    (1, -1, "left", "top"),
    (-1, 1, "right", "bottom"),
    (-1, -1, "right", "top"),
)


def _place_labels(ax: Axes, labels: list[Label]) -> None:
    """Greedy placement: each label takes the spot beside its marker that overlaps the
    fewest markers and labels already placed (big markers and regions go first)."""
    ax.apply_aspect()
    scale = ax.figure.dpi / 72  # pixels per point
    boxes: list[tuple[float, float, float, float]] = []
    for label in labels:
        px, py = ax.transData.transform((label.x, label.y))
        r = label.radius * scale
        boxes.append((px - r, py - r, px + r, py + r))
    for label in sorted(labels, key=lambda lb: -lb.radius):
        px, py = ax.transData.transform((label.x, label.y))
        width = 0.6 * label.size * scale * len(label.text)
        height = 1.2 * label.size * scale
        gap = (label.radius + 2) * scale
        best: tuple[float, int] | None = None
        for k, (sx, sy, _, _) in enumerate(_SPOTS):
            x0 = px + gap * 0.7 if sx > 0 else px - gap * 0.7 - width
            y0 = py + gap * 0.2 if sy > 0 else py - gap * 0.2 - height
            box = (x0, y0, x0 + width, y0 + height)
            score = sum(_overlap(box, other) for other in boxes)
            if best is None or score < best[0] - 1e-6:
                best = (score, k)
        assert best is not None
        sx, sy, ha, va = _SPOTS[best[1]]
        offset = (label.radius + 2) * 0.7
        ax.annotate(
            label.text,
            (label.x, label.y),
            xytext=(sx * offset, sy * (label.radius + 2) * 0.2),
            textcoords="offset points",
            ha=ha,
            va=va,
            fontsize=label.size,
            fontweight=label.weight,
            color="#1a202c",
            zorder=6,
        )
        x0 = px + (gap * 0.7 if sx > 0 else -gap * 0.7 - width)
        y0 = py + (gap * 0.2 if sy > 0 else -gap * 0.2 - height)
        boxes.append((x0, y0, x0 + width, y0 + height))


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    dx = min(a[2], b[2]) - max(a[0], b[0])
    dy = min(a[3], b[3]) - max(a[1], b[1])
    return dx * dy if dx > 0 and dy > 0 else 0.0


def _link_colours() -> Colormap:
    """Greys from light (fast) to dark (slow), leaving hue to zones and flows."""
    return ListedColormap(colormaps["Greys"](np.linspace(0.25, 0.9, 256)))


def _coordinates(topology: Topology) -> dict[str, tuple[float, float]]:
    coords: dict[str, tuple[float, float]] = {}
    for table in (topology.regions, topology.exchanges):
        for name, place in table.items():
            coords[name] = (place.lon, place.lat)
    for name, site in topology.sites.items():
        coords[name] = (site.lon, site.lat)
    return coords


def _draw_sites(axes: Axes, topology: Topology) -> list[Label]:
    labels = []
    for site in topology.sites.values():
        devices = sum(p.count for p in site.pools)
        size = 30 + 8.8 * math.sqrt(devices)
        up = site.status == "up"
        colour = ZONE_COLOURS[topology.zone_of(site)] if up else DOWN_COLOUR
        axes.scatter(
            site.lon,
            site.lat,
            s=size,
            color=colour,
            marker="o" if up else "X",
            edgecolors="white",
            linewidths=1.0,
            alpha=0.9,
            zorder=4,
        )
        state = "" if up else f", {site.status}"
        text = f"{site.name} ({devices:,}{state})"
        labels.append(Label(site.lon, site.lat, text, 7.5, "normal", math.sqrt(size) / 2))
    return labels


def _draw_flows(axes: Axes, plan: Plan, coords: dict[str, tuple[float, float]]) -> None:
    flows: dict[tuple[str, str, str], float] = defaultdict(float)
    for p in plan.placements:
        flows[(p.path[0], p.site, p.zone)] += p.count * p.run_hours
    if not flows:
        return
    biggest = max(flows.values())
    for (origin, site, zone), hours in sorted(flows.items(), key=lambda kv: -kv[1]):
        if origin == site or origin not in coords or site not in coords:
            continue
        width = 1.0 + 9.0 * math.sqrt(hours / biggest)
        arrow = FancyArrowPatch(
            coords[origin],
            coords[site],
            connectionstyle="arc3,rad=0.18",
            arrowstyle="-|>",
            mutation_scale=8 + width,
            lw=width,
            color=ZONE_COLOURS.get(zone, "#555555"),
            alpha=0.45,
            zorder=3,
        )
        axes.add_patch(arrow)


def _map_title(topology: Topology, plan: Plan | None) -> str:
    devices = sum(p.count for s in topology.sites.values() for p in s.pools)
    title = f"{topology.name}: {len(topology.sites)} sites, {devices:,} devices"
    if plan is None:
        return title
    hours = sum(p.count * p.run_hours for p in plan.placements)
    west = sum(p.count * p.run_hours for p in plan.placements if p.zone == "west")
    share = 100 * west / hours if hours else 0.0
    return (
        f"{title}\n{len(plan.placements)} jobs placed, {share:.0f}% of device-hours west, "
        f"{plan.total_cost_cny / 1e6:.2f} M CNY (stay east {plan.baseline_cost_cny / 1e6:.2f} M "
        f"on fewer jobs)"
    )


def draw_comparison(
    comparison: Comparison, out: str | Path, zones: Mapping[str, str] | None = None
) -> None:
    """Baseline and scenarios side by side: cost by hub (stacked; eastern hubs in blues,
    western in oranges when `zones` maps hub to zone), west share, latency."""
    outcomes = [comparison.baseline, *comparison.results]
    names = [o.name for o in outcomes]
    fig = Figure(figsize=(max(10.0, 2.2 + 1.6 * len(outcomes) * 1.8), 5.8), dpi=DPI)
    cost_ax, share_ax, lat_ax = fig.subplots(1, 3, gridspec_kw={"width_ratios": [2.2, 1, 1]})
    _stacked_costs(cost_ax, outcomes, zones or {})
    xs = list(range(len(outcomes)))
    shares = [100 * o.west_share for o in outcomes]
    share_ax.bar(xs, shares, color=ZONE_COLOURS["west"], alpha=0.85)
    for x, share, o in zip(xs, shares, outcomes, strict=True):
        share_ax.annotate(
            f"{share:.0f}%\n{o.placed}/{o.jobs} placed",
            (x, share),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            fontsize=7,
        )
    share_ax.set_ylim(0, 115)
    share_ax.set_title("share of device-hours placed west", fontsize=10)
    p50 = [o.latency_p50_ms or 0.0 for o in outcomes]
    p95 = [o.latency_p95_ms or 0.0 for o in outcomes]
    lat_ax.bar([x - 0.2 for x in xs], p50, width=0.4, label="p50", color="#4a5568")
    lat_ax.bar([x + 0.2 for x in xs], p95, width=0.4, label="p95", color="#a0aec0")
    lat_ax.set_title("latency of placed jobs (ms)", fontsize=10)
    lat_ax.legend(fontsize=8)
    for ax in (cost_ax, share_ax, lat_ax):
        ax.set_xticks(xs)
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.grid(True, axis="y", lw=0.3, alpha=0.6)
    fig.suptitle("What-if: scenarios against the baseline (same jobs, same engine)", fontsize=12)
    fig.tight_layout()
    fig.savefig(out, bbox_inches="tight")


def _stacked_costs(axes: Axes, outcomes: list[ScenarioOutcome], zones: Mapping[str, str]) -> None:
    order = {"east": 0, "west": 1}
    hubs = sorted(
        {h for o in outcomes for h in o.cost_by_hub},
        key=lambda h: (order.get(zones.get(h, ""), 2), h),
    )
    colours = _hub_colours(hubs, zones)
    xs = list(range(len(outcomes)))
    bottom = [0.0] * len(outcomes)
    for hub in hubs:
        heights = [o.cost_by_hub.get(hub, 0.0) / 1e6 for o in outcomes]
        zone = zones.get(hub)
        label = f"{hub} ({zone})" if zone else hub
        axes.bar(
            xs, heights, bottom=bottom, label=label, color=colours[hub], edgecolor="white", lw=0.5
        )
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    for x, total, o in zip(xs, bottom, outcomes, strict=True):
        axes.annotate(
            f"{total:.2f} M\nsaves {o.savings_cny / 1e6:.2f} M",
            (x, total),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            fontsize=7,
        )
    axes.set_ylim(0, max(bottom, default=1.0) * 1.22 or 1.0)
    axes.set_title("total cost by hub (M CNY)", fontsize=10)
    axes.legend(fontsize=7, ncol=2, loc="upper left")


def _hub_colours(hubs: list[str], zones: Mapping[str, str]) -> dict[str, Any]:
    """Blues for eastern hubs, oranges for western ones, greys for hubs of unknown zone."""
    groups: dict[str, list[str]] = defaultdict(list)
    for hub in hubs:
        groups[zones.get(hub, "")].append(hub)
    maps = {"east": "Blues", "west": "Oranges"}
    colours: dict[str, Any] = {}
    for zone, members in groups.items():
        cmap = colormaps[maps.get(zone, "Greys")]
        for k, hub in enumerate(members):
            colours[hub] = cmap(0.35 + 0.55 * k / max(1, len(members) - 1))
    return colours


def draw_sweep(sweep: SweepResult, baseline: ScenarioOutcome, out: str | Path) -> None:
    """Total cost and west share against the swept value; shaded where jobs flip zone."""
    values = sweep.values
    fig = Figure(figsize=(10, 5.5), dpi=DPI)
    ax = fig.add_subplot()
    costs = [o.total_cost_cny / 1e6 for o in sweep.outcomes]
    ax.plot(values, costs, "o-", color="#2d3748", label="total cost (M CNY)")
    ax.axhline(baseline.total_cost_cny / 1e6, ls="--", lw=1, color="#718096", label="baseline cost")
    ax.set_xlabel(f"{sweep.field} (changes[{sweep.change}])")
    ax.set_ylabel("total cost (M CNY)")
    share_ax = ax.twinx()
    shares = [100 * o.west_share for o in sweep.outcomes]
    share_ax.plot(values, shares, "s-", color=ZONE_COLOURS["west"], label="west share (%)")
    share_ax.set_ylabel("device-hours placed west (%)", color=ZONE_COLOURS["west"])
    share_ax.set_ylim(0, 105)
    by_step: dict[tuple[float, float], list[str]] = defaultdict(list)
    for flip in sweep.flips:
        by_step[(flip.before_value, flip.value)].append(
            f"{flip.job} ({flip.from_zone} → {flip.to_zone})"
        )
    notes = []
    for (lo, hi), jobs in by_step.items():
        ax.axvspan(lo, hi, color="#fbd38d", alpha=0.35, lw=0)
        ax.annotate(
            f"{len(jobs)} flip{'s' if len(jobs) != 1 else ''}",
            ((lo + hi) / 2, 0.03),
            xycoords=("data", "axes fraction"),
            ha="center",
            fontsize=8,
            color="#744210",
        )
        notes.append(f"{lo:g} → {hi:g}: " + ", ".join(jobs))
    if notes:
        text = "\n".join(textwrap.fill(n, 150, subsequent_indent="      ") for n in notes)
        fig.text(
            0.01, -0.01, "Jobs that change zone:\n" + text, fontsize=7, va="top", color="#744210"
        )
    lines = ax.get_legend_handles_labels()
    more = share_ax.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="center left", fontsize=8)
    ax.grid(True, lw=0.3, alpha=0.6)
    ax.set_title(f"Sweep {sweep.name}: where placements flip zone", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, bbox_inches="tight")
