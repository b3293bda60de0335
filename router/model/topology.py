"""The topology: accelerator types, hubs, places, pools and links, loaded and validated.

Structure is checked against router/data/topology.schema.json; references,
duplicates and connectivity are checked here. Every problem names its field path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from router.errors import FieldProblem, InvalidInputError
from router.model.schema import schema_problems, unknown_reference
from router.model.sourcefile import parse_yaml, read_yaml

PRECISIONS = ("fp64", "fp32", "fp16", "int8")
SITE_STATUSES = ("up", "drain", "down")
ZONES = ("east", "west")
DEFAULT_TOPOLOGY = "china-edwc.yaml"


@dataclass(frozen=True, slots=True)
class Accelerator:
    """An accelerator type of the catalog."""

    name: str
    vendor: str
    stack: str
    memory_gb: float
    tdp_kw: float
    training: bool
    tflops: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Hub:
    """A national hub and the zone it belongs to."""

    name: str
    title: str
    zone: str


@dataclass(frozen=True, slots=True)
class Region:
    """A demand point: a city where users and data are."""

    name: str
    hub: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Exchange:
    """A backbone node that links may pass through."""

    name: str
    hub: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Pool:
    """`count` identical accelerators of one type at a site, priced per device-hour."""

    accelerator: str
    count: int
    price_cny_per_hour: float


@dataclass(frozen=True, slots=True)
class Site:
    """A datacenter of a hub, run by a provider, with its accelerator pools."""

    name: str
    hub: str
    provider: str
    lat: float
    lon: float
    status: str
    pue: float
    electricity_cny_per_kwh: float
    carbon_g_per_kwh: float
    pools: tuple[Pool, ...]


@dataclass(frozen=True, slots=True)
class Link:
    """An undirected link between two places."""

    a: str
    b: str
    latency_ms: float
    bandwidth_gbps: float
    price_cny_per_gb: float
    status: str = "up"


@dataclass(frozen=True)
class Topology:
    """Everything the router knows about the network; immutable."""

    name: str
    accelerators: Mapping[str, Accelerator]
    hubs: Mapping[str, Hub]
    regions: Mapping[str, Region]
    exchanges: Mapping[str, Exchange]
    sites: Mapping[str, Site]
    links: tuple[Link, ...]
    places: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        names = set(self.regions) | set(self.sites) | set(self.exchanges)
        object.__setattr__(self, "places", frozenset(names))

    def zone_of(self, site: Site) -> str:
        """The zone (east / west) of a site's hub."""
        return self.hubs[site.hub].zone


def load_topology(path: str | Path) -> Topology:
    """Read and validate a topology YAML file; errors carry file and line."""
    source = read_yaml(path)
    try:
        return parse_topology(source.data)
    except InvalidInputError as exc:
        raise source.locate(exc.problems) from None


def default_topology() -> Topology:
    """The embedded China East-Data-West-Compute topology."""
    ref = resources.files("router").joinpath("data", DEFAULT_TOPOLOGY)
    source = parse_yaml(ref.read_text("utf-8"), f"<embedded {DEFAULT_TOPOLOGY}>")
    try:
        return parse_topology(source.data)
    except InvalidInputError as exc:
        raise source.locate(exc.problems) from None


def parse_topology(data: Any) -> Topology:
    """Build a Topology from YAML-shaped data, or raise InvalidInputError listing problems."""
    problems = schema_problems(data, "topology")
    if problems:
        raise InvalidInputError(problems)
    problems = _reference_problems(data)
    if problems:
        raise InvalidInputError(problems)
    topology = _build(data)
    problems = _connectivity_problems(topology, data)
    if problems:
        raise InvalidInputError(problems)
    return topology


def _build(data: dict[str, Any]) -> Topology:
    accelerators = {
        a["name"]: Accelerator(
            name=a["name"],
            vendor=a["vendor"],
            stack=a["stack"],
            memory_gb=float(a["memory_gb"]),
            tdp_kw=float(a["tdp_kw"]),
            training=bool(a["training"]),
            tflops={k: float(v) for k, v in a["tflops"].items()},
        )
        for a in data["accelerators"]
    }
    hubs = {h["name"]: Hub(h["name"], h["title"], h["zone"]) for h in data["hubs"]}
    regions = {
        r["name"]: Region(r["name"], r["hub"], float(r["lat"]), float(r["lon"]))
        for r in data["regions"]
    }
    exchanges = {
        x["name"]: Exchange(x["name"], x["hub"], float(x["lat"]), float(x["lon"]))
        for x in data.get("exchanges") or []
    }
    sites = {s["name"]: _site(s) for s in data["sites"]}
    links = tuple(
        Link(
            a=ln["a"],
            b=ln["b"],
            latency_ms=float(ln["latency_ms"]),
            bandwidth_gbps=float(ln["bandwidth_gbps"]),
            price_cny_per_gb=float(ln["price_cny_per_gb"]),
            status=ln.get("status", "up"),
        )
        for ln in data["links"]
    )
    return Topology(data["name"], accelerators, hubs, regions, exchanges, sites, links)


def _site(s: dict[str, Any]) -> Site:
    return Site(
        name=s["name"],
        hub=s["hub"],
        provider=s["provider"],
        lat=float(s["lat"]),
        lon=float(s["lon"]),
        status=s.get("status", "up"),
        pue=float(s["pue"]),
        electricity_cny_per_kwh=float(s["electricity_cny_per_kwh"]),
        carbon_g_per_kwh=float(s["carbon_g_per_kwh"]),
        pools=tuple(
            Pool(p["accelerator"], int(p["count"]), float(p["price_cny_per_hour"]))
            for p in s["pools"]
        ),
    )


def _duplicates(
    entries: list[dict[str, Any]], section: str, seen: dict[str, str]
) -> list[FieldProblem]:
    problems = []
    for i, entry in enumerate(entries):
        name = entry["name"]
        if name in seen:
            problems.append(
                FieldProblem(
                    f"{section}[{i}].name",
                    f"duplicate name {name!r} (already used by {seen[name]})",
                )
            )
        else:
            seen[name] = f"{section}[{i}]"
    return problems


def _reference_problems(data: dict[str, Any]) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    problems += _duplicates(data["accelerators"], "accelerators", {})
    problems += _duplicates(data["hubs"], "hubs", {})
    places: dict[str, str] = {}
    for section in ("regions", "exchanges", "sites"):
        problems += _duplicates(data.get(section) or [], section, places)
    hubs = {h["name"] for h in data["hubs"]}
    types = {a["name"] for a in data["accelerators"]}
    for section in ("regions", "exchanges", "sites"):
        for i, entry in enumerate(data.get(section) or []):
            if entry["hub"] not in hubs:
                problems.append(unknown_reference(f"{section}[{i}].hub", "hub", entry["hub"], hubs))
    for i, site in enumerate(data["sites"]):
        for j, pool in enumerate(site["pools"]):
            if pool["accelerator"] not in types:
                path = f"sites[{i}].pools[{j}].accelerator"
                problems.append(
                    unknown_reference(path, "accelerator type", pool["accelerator"], types)
                )
    pairs: dict[frozenset[str], int] = {}
    for i, link in enumerate(data["links"]):
        for end in ("a", "b"):
            if link[end] not in places:
                problems.append(
                    unknown_reference(f"links[{i}].{end}", "place", link[end], set(places))
                )
        if link["a"] == link["b"]:
            problems.append(FieldProblem(f"links[{i}].b", "a link must join two different places"))
        pair = frozenset((link["a"], link["b"]))
        if pair in pairs:
            problems.append(
                FieldProblem(f"links[{i}]", f"duplicate link (same places as links[{pairs[pair]}])")
            )
        pairs.setdefault(pair, i)
    return problems


def _connectivity_problems(topology: Topology, data: dict[str, Any]) -> list[FieldProblem]:
    """Every region must reach at least one site over links (of any status)."""
    import networkx as nx  # loaded here: validating a file should start fast

    graph: nx.Graph = nx.Graph()
    graph.add_nodes_from(topology.places)
    graph.add_edges_from((link.a, link.b) for link in topology.links)
    sites = set(topology.sites)
    problems = []
    for i, region in enumerate(data["regions"]):
        reachable = nx.node_connected_component(graph, region["name"])
        if not reachable & sites:
            problems.append(
                FieldProblem(
                    f"regions[{i}]",
                    f"region {region['name']!r} is disconnected: no links lead to any site",
                )
            )
    return problems
