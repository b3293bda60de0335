"""Tools for people who write topology files: latency estimates from coordinates, the
latency matrix from regions to sites, and a commented starter file.

Estimates follow docs/topology.md: one-way ms = 0.005 ms/km (light in fibre) x
great-circle km x route factor (fibre is not straight; 1.5-2.0, default 1.7) + a fixed
part for equipment (default 1 ms). Filled-in values are marked `[E]` in the file.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from router.errors import FieldProblem, InvalidInputError

if TYPE_CHECKING:
    # Loaded in the functions, so `westward --help` reads the defaults above cheaply.
    from router.model.sourcefile import SourceFile
    from router.model.topology import Topology

MS_PER_KM = 0.005
DEFAULT_ROUTE_FACTOR = 1.7
DEFAULT_FIXED_MS = 1.0
EARTH_RADIUS_KM = 6371.0
STARTER = "starter-topology.yaml"


@dataclass(frozen=True, slots=True)
class Estimate:
    """A latency filled in for links[index] (a, b) from the distance between its ends."""

    index: int
    a: str
    b: str
    km: float
    latency_ms: float


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance over the earth's surface (haversine), in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def estimate_latency_ms(
    km: float, route_factor: float = DEFAULT_ROUTE_FACTOR, fixed_ms: float = DEFAULT_FIXED_MS
) -> float:
    """One-way latency over `km` of great-circle distance, rounded to 0.1 ms."""
    return round(MS_PER_KM * km * route_factor + fixed_ms, 1)


def fill_latencies(
    source: SourceFile,
    text: str,
    route_factor: float = DEFAULT_ROUTE_FACTOR,
    fixed_ms: float = DEFAULT_FIXED_MS,
) -> tuple[str, list[Estimate]]:
    """The file text with every link that lacks `latency_ms` given an estimate (and a
    `# [E]` comment line above it), and the estimates made. Comments and layout are kept.

    Raises InvalidInputError (located in the file) for any other problem in the file.
    """
    from router.model.schema import schema_problems
    from router.model.topology import parse_topology

    data = source.data
    problems = [
        p
        for p in schema_problems(data, "topology")
        if not (
            re.fullmatch(r"links\[\d+\]\.latency_ms", p.path)
            and p.message.startswith("is required")
        )
    ]
    if problems:
        raise source.locate(problems)
    coordinates = {
        entry["name"]: (float(entry["lat"]), float(entry["lon"]))
        for section in ("regions", "sites", "exchanges")
        for entry in data.get(section) or []
    }
    estimates = []
    for i, link in enumerate(data["links"]):
        if "latency_ms" in link:
            continue
        missing = [end for end in ("a", "b") if link[end] not in coordinates]
        if missing:
            continue  # reported as an unknown place by the check below
        km = great_circle_km(*coordinates[link["a"]], *coordinates[link["b"]])
        estimates.append(
            Estimate(i, link["a"], link["b"], km, estimate_latency_ms(km, route_factor, fixed_ms))
        )
    filled = {**data, "links": [dict(link) for link in data["links"]]}
    for e in estimates:
        filled["links"][e.index]["latency_ms"] = e.latency_ms
    try:
        parse_topology(filled)
    except InvalidInputError as exc:
        raise source.locate(exc.problems) from None
    lines = text.splitlines(keepends=True)
    for e in sorted(estimates, key=lambda e: -_line_of(source, e.index)):
        _insert(lines, _line_of(source, e.index) - 1, e, route_factor, fixed_ms)
    return "".join(lines), estimates


def _line_of(source: SourceFile, index: int) -> int:
    line = source.line_of(("links", index))
    if line is None:
        raise InvalidInputError(
            [FieldProblem(f"links[{index}]", "cannot find this link in the file", source.name)]
        )
    return line


def _insert(lines: list[str], at: int, e: Estimate, route_factor: float, fixed_ms: float) -> None:
    """Add `latency_ms` to the link entry starting on lines[at], and a comment above it."""
    line = lines[at]
    indent = len(line) - len(line.lstrip(" "))
    value = f"{e.latency_ms:g}"
    flow = re.search(r"\{", line)
    if flow:
        rest = line[flow.end() :]
        after_b = re.search(r"\bb:\s*[^,}#\s]+", rest)
        if after_b:
            cut = flow.end() + after_b.end()
            lines[at] = f"{line[:cut]}, latency_ms: {value}{line[cut:]}"
        else:
            lines[at] = f"{line[: flow.end()]}latency_ms: {value}, {rest}"
    else:
        stripped = line.lstrip(" ")
        key_column = indent + (2 if stripped.startswith("- ") else 0)
        lines.insert(at + 1, " " * key_column + f"latency_ms: {value}\n")
    comment = (
        f"# [E] latency_ms estimated from coordinates: {e.km:,.0f} km x {MS_PER_KM} ms/km "
        f"x {route_factor:g} route factor + {fixed_ms:g} ms\n"
    )
    lines.insert(at, " " * indent + comment)


def latency_matrix(topology: Topology) -> dict[str, dict[str, float | None]]:
    """One-way latency (ms) of the minimum-latency path from each region to each site over
    links that are up; None where a site cannot be reached."""
    from router.place.network import Network

    network = Network(topology)
    matrix: dict[str, dict[str, float | None]] = {}
    for region in topology.regions:
        paths = network.paths_from(region)
        matrix[region] = {
            site: (round(paths[site].latency_ms, 3) if site in paths else None)
            for site in topology.sites
        }
    return matrix


def starter_text() -> str:
    """The commented starter topology of `westward topology init`."""
    return resources.files("router").joinpath("data", STARTER).read_text("utf-8")
