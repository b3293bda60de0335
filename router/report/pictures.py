"""Pictures (PNG, matplotlib): the topology map with a plan's flows, a comparison of
scenarios, and a sweep as a line chart.

Drawing only: figures are built with the object API on an Agg canvas (no pyplot, no
window, no global state) and written to the given path.
"""

from __future__ import annotations

import math
import textwrap
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from itertools import pairwise
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
from router.place.network import Network
from router.report.mapbase import INK, Label, draw_land, place_labels, positions
from router.results import JobMove, Plan
from router.whatif.compare import Comparison, ScenarioOutcome, SweepResult

ZONE_COLOURS = {"east": "#2b6cb0", "west": "#dd6b20"}
FLOW_COLOURS = {"east": "#4c8fd6", "west": "#f0a35e"}  # lighter than the sites they reach
MOVED_COLOUR = "#805ad5"
DOWN_COLOUR = "#9e9e9e"
DPI = 120


def draw_map(
    topology: Topology,
    out: str | Path,
    plan: Plan | None = None,
    title: str = "",
    moves: Sequence[JobMove] = (),
    lost_jobs: Sequence[str] = (),
) -> Figure:
    """Land and borders, sites by zone (size = devices), regions, and with a plan the
    flows from each city to the sites its work went to (width = device-hours) over the
    links they use; `moves` (against a baseline plan) are drawn in purple."""
    fig = Figure(figsize=(10, 9), dpi=DPI)
    ax = fig.add_subplot()
    coords = positions(topology)
    draw_land(ax)
    _frame(ax, coords)
    link_colours = _draw_links(ax, topology, coords, backbone(topology, plan), plan is None)
    moved_to = {(m.job, m.to_site) for m in moves}
    devices = {s.name: sum(p.count for p in s.pools) for s in topology.sites.values()}
    flow_widths = _draw_flows(ax, plan, coords, devices, moved_to) if plan else {}
    labels = _draw_sites(ax, topology, coords, moves)
    for region in topology.regions.values():
        ax.scatter(
            region.lon, region.lat, marker="s", s=60, color=INK, edgecolors="white", zorder=5
        )
        labels.append(Label(region.lon, region.lat, region.name, 9.5, "bold", 4.5))
    for exchange in topology.exchanges.values():
        ax.scatter(exchange.lon, exchange.lat, marker="D", s=30, color="#4a5568", zorder=4)
        labels.append(Label(exchange.lon, exchange.lat, exchange.name, 7.0, "normal", 3.0))
    _legends(ax, plan, flow_widths, bool(moves))
    if lost_jobs:
        ax.text(
            0.99,
            0.01,
            textwrap.fill(f"Not placed here, placed in the baseline: {', '.join(lost_jobs)}", 60),
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=8,
            color=MOVED_COLOUR,
            bbox={"facecolor": "white", "alpha": 0.9, "edgecolor": MOVED_COLOUR},
            zorder=8,
        )
    ax.set_title(title or _map_title(topology, plan), fontsize=11)
    place_labels(ax, labels)
    if link_colours is not None:
        colourbar = fig.colorbar(link_colours, ax=ax, shrink=0.5, pad=0.02)
        colourbar.set_label("link latency, one-way (ms)")
    ax.text(
        0.995,
        0.995,
        "borders, coast: Natural Earth 1:110m\nsites sharing a place drawn side by side",
        transform=ax.transAxes,
        ha="right",
        va="top",
        fontsize=6.5,
        color="#718096",
    )
    fig.savefig(out, bbox_inches="tight")
    return fig


def _frame(ax: Axes, coords: Mapping[str, tuple[float, float]]) -> None:
    xs = [x for x, _ in coords.values()]
    ys = [y for _, y in coords.values()]
    ax.set_xlim(min(xs) - 4.0, max(xs) + 4.0)
    ax.set_ylim(min(ys) - 2.5, max(ys) + 2.5)
    ax.set_aspect(1 / math.cos(math.radians((min(ys) + max(ys)) / 2)))
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.grid(True, lw=0.3, alpha=0.4, color="#a0aec0")
    ax.set_axisbelow(True)


def backbone(topology: Topology, plan: Plan | None) -> set[frozenset[str]]:
    """The links to emphasise: with a plan, those some placed job's path runs over;
    without one, each city's fastest path to its own hub and to every western hub."""
    if plan is not None:
        return {frozenset(pair) for p in plan.placements for pair in pairwise(p.path)}
    network = Network(topology)
    links: set[frozenset[str]] = set()
    for region in topology.regions.values():
        nearest: dict[str, tuple[float, tuple[str, ...]]] = {}
        for site, path in network.paths_from(region.name).items():
            hub = topology.sites[site].hub
            wanted = hub == region.hub or topology.hubs[hub].zone == "west"
            if wanted and path.latency_ms < nearest.get(hub, (math.inf, ()))[0]:
                nearest[hub] = (path.latency_ms, path.places)
        links |= {frozenset(pair) for _, places in nearest.values() for pair in pairwise(places)}
    return links


def _draw_links(
    ax: Axes,
    topology: Topology,
    coords: Mapping[str, tuple[float, float]],
    emphasised: set[frozenset[str]],
    shade: bool,
) -> ScalarMappable | None:
    """Emphasised links over faint others; with `shade`, emphasised links are shaded by
    latency (and the scale is returned for a colour bar)."""
    norm = Normalize(vmin=0, vmax=max((ln.latency_ms for ln in topology.links), default=1.0))
    cmap = _link_colours()
    for link in topology.links:
        (x1, y1), (x2, y2) = coords[link.a], coords[link.b]
        on_backbone = frozenset((link.a, link.b)) in emphasised
        colour: Any = "#718096"
        lw, alpha = 0.4, 0.15
        if on_backbone:
            colour = cmap(norm(link.latency_ms)) if shade else "#4a5568"
            lw, alpha = (1.0, 0.8) if shade else (0.7, 0.5)
        ax.plot(
            [x1, x2],
            [y1, y2],
            "-" if link.status == "up" else ":",
            color=colour,
            lw=lw,
            alpha=alpha,
            zorder=1,
            gid=f"link:{link.a}-{link.b}:{'backbone' if on_backbone else 'other'}",
        )
    return ScalarMappable(norm=norm, cmap=cmap) if shade else None


def _link_colours() -> Colormap:
    """Greys from light (fast) to dark (slow), leaving hue to zones and flows."""
    return ListedColormap(colormaps["Greys"](np.linspace(0.25, 0.9, 256)))


def _draw_sites(
    ax: Axes,
    topology: Topology,
    coords: Mapping[str, tuple[float, float]],
    moves: Sequence[JobMove],
) -> list[Label]:
    arrived = Counter(m.to_site for m in moves)
    left = Counter(m.from_site for m in moves)
    labels = []
    for site in topology.sites.values():
        x, y = coords[site.name]
        devices = sum(p.count for p in site.pools)
        size = marker_area(devices)
        up = site.status == "up"
        ax.scatter(
            x,
            y,
            s=size,
            color=ZONE_COLOURS[topology.zone_of(site)] if up else DOWN_COLOUR,
            marker="o" if up else "X",
            edgecolors="white",
            linewidths=1.2,
            zorder=4,
            gid=f"site:{site.name}",
        )
        text = f"{site.name} {devices:,}" + ("" if up else f" ({site.status})")
        moved = [f"+{arrived[site.name]}" * bool(arrived[site.name])]
        moved.append(f"−{left[site.name]}" * bool(left[site.name]))
        colour = INK
        if any(moved):
            text += f"\nmoved {' '.join(m for m in moved if m)}"
            colour = MOVED_COLOUR
        labels.append(Label(x, y, text, 7.5, "normal", math.sqrt(size) / 2, colour))
    return labels


def marker_area(devices: int) -> float:
    """Scatter area (points squared) of a site's marker: grows with the root of its devices."""
    return 30 + 7 * math.sqrt(devices)


def _draw_flows(
    ax: Axes,
    plan: Plan,
    coords: Mapping[str, tuple[float, float]],
    devices: Mapping[str, int],
    moved_to: set[tuple[str, str]],
) -> dict[tuple[str, str], float]:
    """One arrow per (origin, site) with work placed; width ~ sqrt(device-hours), so
    area reads as work. Returns device-hours per drawn flow."""
    flows: dict[tuple[str, str], float] = defaultdict(float)
    zones: dict[str, str] = {}
    moved: set[tuple[str, str]] = set()
    for p in plan.placements:
        origin = p.path[0]
        if origin == p.site or origin not in coords or p.site not in coords:
            continue
        flows[(origin, p.site)] += p.count * p.run_hours
        zones[p.site] = p.zone
        if (p.job, p.site) in moved_to:
            moved.add((origin, p.site))
    biggest = max(flows.values(), default=1.0)
    for (origin, site), hours in sorted(flows.items(), key=lambda kv: -kv[1]):
        width = flow_width(hours, biggest)
        is_moved = (origin, site) in moved
        ax.add_patch(
            FancyArrowPatch(
                coords[origin],
                coords[site],
                connectionstyle="arc3,rad=0.12",
                arrowstyle="-|>",
                mutation_scale=7 + 1.5 * width,
                lw=width,
                shrinkA=4,
                # The arrowhead stops at the site marker's rim instead of under it.
                shrinkB=math.sqrt(marker_area(devices[site])) / 2 + 1,
                color=MOVED_COLOUR if is_moved else FLOW_COLOURS.get(zones[site], "#777777"),
                alpha=0.8 if is_moved else 0.6,
                zorder=3,
                gid=f"flow:{origin}>{site}" + (":moved" if is_moved else ""),
            )
        )
    return dict(flows)


def flow_width(device_hours: float, biggest: float) -> float:
    """Line width in points for a flow of `device_hours` on a map whose largest is `biggest`."""
    return 0.8 + 9.0 * math.sqrt(device_hours / biggest) if biggest > 0 else 0.8


def _legends(
    ax: Axes, plan: Plan | None, flows: Mapping[tuple[str, str], float], moved: bool
) -> None:
    handles = [
        Line2D([], [], marker="o", ls="", ms=8, color=ZONE_COLOURS["east"], label="east site"),
        Line2D([], [], marker="o", ls="", ms=8, color=ZONE_COLOURS["west"], label="west site"),
        Line2D([], [], marker="X", ls="", ms=8, color=DOWN_COLOUR, label="site down / drain"),
        Line2D([], [], marker="s", ls="", ms=7, color=INK, label="demand region"),
    ]
    if plan is None:
        handles.append(
            Line2D(
                [],
                [],
                color="#4a5568",
                lw=1.0,
                label="city's fastest path to a\nwest hub or its own",
            )
        )
    else:
        handles += [
            Line2D([], [], color=FLOW_COLOURS["west"], lw=4, label="work sent west"),
            Line2D([], [], color=FLOW_COLOURS["east"], lw=4, label="work kept east"),
            Line2D([], [], color="#4a5568", lw=0.7, label="link on a job's path"),
        ]
    if moved:
        handles.append(Line2D([], [], color=MOVED_COLOUR, lw=4, label="moved vs baseline"))
    kinds = ax.legend(handles=handles, loc="upper left", fontsize=8, framealpha=0.92)
    ax.add_artist(kinds)
    if not flows:
        return
    biggest = max(flows.values())
    sizes = sorted({_round_nicely(biggest * f) for f in (1.0, 0.25, 0.04)}, reverse=True)
    width_handles = [
        Line2D([], [], color="#a0aec0", lw=flow_width(h, biggest), label=f"{h:,.0f}")
        for h in sizes
        if h > 0
    ]
    ax.legend(
        handles=width_handles,
        title="flow: device-hours",
        loc="lower left",
        fontsize=8,
        title_fontsize=8,
        framealpha=0.92,
        handlelength=3.5,
        labelspacing=1.1,
    )


def _round_nicely(value: float) -> float:
    """Two significant digits: 123,456 -> 120,000."""
    if value <= 0:
        return 0.0
    digits = 10 ** max(0, math.floor(math.log10(value)) - 1)
    return float(round(value / digits) * digits)


def _map_title(topology: Topology, plan: Plan | None) -> str:
    devices = sum(p.count for s in topology.sites.values() for p in s.pools)
    title = f"{topology.name}: {len(topology.sites)} sites, {devices:,} devices"
    if plan is None:
        return title
    hours = sum(p.count * p.run_hours for p in plan.placements)
    west = sum(p.count * p.run_hours for p in plan.placements if p.zone == "west")
    share = 100 * west / hours if hours else 0.0
    placed = len(plan.placements)
    return (
        f"{title}\n{placed} of {placed + len(plan.unplaced)} jobs placed, "
        f"{share:.0f}% of device-hours west, {plan.total_cost_cny / 1e6:.2f} M CNY"
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
