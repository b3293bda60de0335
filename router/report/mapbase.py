"""What every map stands on: land and borders drawn offline, site positions that do not
hide each other, and labels placed so they do not overlap.

The outline is Natural Earth's 1:110m countries (public domain), shipped with the package
as `router/data/east-asia-outline.json` (made by `docs/tools/make_outline.py`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.patches import Polygon
from matplotlib.text import Annotation
from matplotlib.transforms import Bbox

from router.model.topology import Topology

SEA = "#e6eff6"
LAND = "#fbfaf6"
BORDER = "#a39e93"
INK = "#1a202c"
OUTLINE_FILE = "east-asia-outline.json"


@cache
def outline() -> dict[str, Any]:
    """The shipped country outlines: {"source", "licence", "box", "countries": [...]}."""
    text = resources.files("router").joinpath("data", OUTLINE_FILE).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def draw_land(ax: Axes) -> int:
    """Sea as the background, land and national borders on it; the number of rings drawn."""
    ax.set_facecolor(SEA)
    rings = 0
    for country in outline()["countries"]:
        for ring in country["rings"]:
            ax.add_patch(
                Polygon(ring, closed=True, facecolor=LAND, edgecolor=BORDER, lw=0.7, zorder=0)
            )
            rings += 1
    return rings


def positions(topology: Topology, spread_deg: float = 0.55) -> dict[str, tuple[float, float]]:
    """(lon, lat) of every place; sites that share a spot are set around it in a small
    ring, so each stays visible (the nudge is well under the map's resolution)."""
    coords: dict[str, tuple[float, float]] = {}
    for table in (topology.regions, topology.exchanges):
        for name, place in table.items():
            coords[name] = (place.lon, place.lat)
    together: list[list[str]] = []  # sites closer than `spread_deg` to a group's first
    for name, site in topology.sites.items():
        for names in together:
            first = topology.sites[names[0]]
            if math.hypot(first.lon - site.lon, first.lat - site.lat) < spread_deg:
                names.append(name)
                break
        else:
            together.append([name])
    for names in together:
        sites = [topology.sites[n] for n in names]
        lon = sum(s.lon for s in sites) / len(sites)
        lat = sum(s.lat for s in sites) / len(sites)
        for k, name in enumerate(names):
            if len(names) == 1:
                coords[name] = (topology.sites[name].lon, topology.sites[name].lat)
                continue
            angle = math.pi / 2 + 2 * math.pi * k / len(names)
            coords[name] = (
                lon + spread_deg * math.cos(angle) / math.cos(math.radians(lat)),
                lat + spread_deg * math.sin(angle),
            )
    return coords


@dataclass(frozen=True, slots=True)
class Label:
    """A text to put beside a marker of `radius` points at (x, y)."""

    x: float
    y: float
    text: str
    size: float
    weight: str
    radius: float
    colour: str = INK


# Directions tried around a marker, in order of preference (right, then left, above, below).
_DIRECTIONS = ((1, 0), (1, 1), (1, -1), (-1, 0), (-1, 1), (-1, -1), (0, 1), (0, -1))
_DISTANCES = (1.0, 2.2, 3.6)  # in units of (marker radius + 3 points)


def place_labels(ax: Axes, labels: list[Label]) -> list[Annotation]:
    """Put each label at the spot beside its marker that overlaps no marker and no label
    already placed (the least overlap when none is clear); a leader line joins a label
    set further out to its marker. Larger markers are labelled first."""
    fig = ax.get_figure(root=True)
    assert fig is not None
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    renderer = canvas.get_renderer()  # type: ignore[no-untyped-call]
    ax.apply_aspect()
    scale = fig.dpi / 72
    taken: list[Bbox] = []
    for label in labels:
        px, py = ax.transData.transform((label.x, label.y))
        r = label.radius * scale
        taken.append(Bbox.from_extents(px - r, py - r, px + r, py + r))
    frame = ax.get_window_extent(renderer)
    placed = []
    for label in sorted(labels, key=lambda lb: -lb.radius):
        text = ax.annotate(
            label.text,
            (label.x, label.y),
            xytext=(0, 0),
            textcoords="offset points",
            fontsize=label.size,
            fontweight=label.weight,
            color=label.colour,
            # A light box keeps a label readable where flows pass under it.
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7},
            zorder=7,
            gid=f"label:{label.text.split()[0]}",
        )
        best: tuple[float, Bbox, tuple[float, float], str, str] | None = None
        for distance in _DISTANCES:
            for dx, dy in _DIRECTIONS:
                step = (label.radius + 3) * distance
                offset = (dx * step, dy * step * (0.75 if dx else 1.0))
                ha = {1: "left", -1: "right", 0: "center"}[dx]
                va = {1: "bottom", -1: "top", 0: "center"}[dy]
                text.set(position=offset, ha=ha, va=va)
                box = text.get_window_extent(renderer)
                score = sum(_overlap(box, other) for other in taken)
                score += _outside(box, frame) * 10
                score += distance * 0.01  # prefer near spots when all else is equal
                if best is None or score < best[0]:
                    best = (score, box, offset, ha, va)
            if best is not None and best[0] < 1.0:
                break
        assert best is not None
        _, box, offset, ha, va = best
        text.set(position=offset, ha=ha, va=va)
        if math.hypot(*offset) > (label.radius + 3) * 1.5:
            ax.annotate(
                "",
                (label.x, label.y),
                xytext=offset,
                textcoords="offset points",
                arrowprops={"arrowstyle": "-", "color": "#718096", "lw": 0.6},
                zorder=6,
            )
        taken.append(box)
        placed.append(text)
    return placed


def _overlap(a: Bbox, b: Bbox) -> float:
    dx = min(a.x1, b.x1) - max(a.x0, b.x0)
    dy = min(a.y1, b.y1) - max(a.y0, b.y0)
    return dx * dy if dx > 0 and dy > 0 else 0.0


def _outside(box: Bbox, frame: Bbox) -> float:
    inside = _overlap(box, frame)
    return box.width * box.height - inside
