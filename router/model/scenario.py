"""What-if scenarios: a name, changes that select parts of the topology or jobs, additions,
and an optional sweep. Loaded and validated like topology and job files.

Shape is checked against router/data/scenario.schema.json; references (sites, hubs,
links, pools, jobs), which settings apply to which selector, and additions are checked
here. Every problem names its field path; load_scenario adds file and line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from router.errors import FieldProblem, InvalidInputError
from router.model.jobs import Job
from router.model.schema import load_schema, schema_problems, unknown_reference
from router.model.sourcefile import read_yaml
from router.model.topology import Link, Site, Topology, parse_topology
from router.model.topology_data import topology_data

SELECTORS = ("site", "hub", "zone", "provider", "pool", "link", "job")
SITE_SELECTORS = frozenset({"site", "hub", "zone", "provider"})
SETTINGS = (
    "status",
    "price_factor",
    "count_factor",
    "latency_ms",
    "bandwidth_gbps",
    "demand_factor",
)
APPLIES: Mapping[str, tuple[str, ...]] = {
    **{kind: ("status", "price_factor", "count_factor") for kind in SITE_SELECTORS},
    "pool": ("price_factor", "count_factor"),
    "link": ("status", "latency_ms", "bandwidth_gbps"),
    "job": ("demand_factor",),
}
LINK_STATUSES = ("up", "down")
EVERY_JOB = "*"


@dataclass(frozen=True, slots=True)
class Selector:
    """What a change applies to. `kind` is one of SELECTORS; the other fields narrow it."""

    kind: str
    names: tuple[str, ...] = ()  # site, hub, zone, provider or job names ("*": every job)
    links: tuple[tuple[str, str], ...] = ()
    sites: tuple[str, ...] = ()  # pool selector: these sites (empty: any)
    accelerators: tuple[str, ...] = ()  # pool selector: these types (empty: any)
    kinds: tuple[str, ...] = ()  # job selector: these kinds (empty: any)
    origins: tuple[str, ...] = ()  # job selector: these origins (empty: any)

    def selects_site(self, site: Site, topology: Topology) -> bool:
        """Whether a site-level change (status, or all its pools) applies to `site`."""
        if self.kind == "site":
            return site.name in self.names
        if self.kind == "hub":
            return site.hub in self.names
        if self.kind == "zone":
            return topology.zone_of(site) in self.names
        if self.kind == "provider":
            return site.provider in self.names
        if self.kind == "pool":
            return not self.sites or site.name in self.sites
        return False

    def selects_pool(self, site: Site, accelerator: str, topology: Topology) -> bool:
        """Whether a pool of `site` with type `accelerator` is selected."""
        if not self.selects_site(site, topology):
            return False
        return self.kind != "pool" or not self.accelerators or accelerator in self.accelerators

    def selects_link(self, link: Link) -> bool:
        """Whether `link` (either direction) is selected."""
        ends = {link.a, link.b}
        return self.kind == "link" and any({a, b} == ends for a, b in self.links)

    def selects_job(self, job: Job) -> bool:
        """Whether `job` is selected (by name, "*", kind or origin)."""
        if self.kind != "job":
            return False
        if self.names:
            return EVERY_JOB in self.names or job.name in self.names
        return (not self.kinds or job.kind in self.kinds) and (
            not self.origins or job.origin in self.origins
        )


@dataclass(frozen=True, slots=True)
class Change:
    """A selector and the values it sets (None: unchanged)."""

    select: Selector
    status: str | None = None
    price_factor: float | None = None
    count_factor: float | None = None
    latency_ms: float | None = None
    bandwidth_gbps: float | None = None
    demand_factor: float | None = None


@dataclass(frozen=True, slots=True)
class Sweep:
    """Plan once per value: `steps` values evenly spaced from `start` to `stop`, set as
    `field` on changes[`change`]."""

    change: int
    field: str
    start: float
    stop: float
    steps: int

    @property
    def values(self) -> tuple[float, ...]:
        """The swept values, rounded to 6 decimals so 0.1 steps print as 0.7, not 0.7000001."""
        step = (self.stop - self.start) / (self.steps - 1)
        return tuple(round(self.start + k * step, 6) for k in range(self.steps))


@dataclass(frozen=True)
class Scenario:
    """A named what-if: sites and links to add, then changes applied in order."""

    name: str
    changes: tuple[Change, ...] = ()
    add_sites: tuple[Site, ...] = ()
    add_links: tuple[Link, ...] = ()
    sweep: Sweep | None = None
    description: str = ""


def load_scenario(path: str | Path, topology: Topology, jobs: Sequence[Job] = ()) -> Scenario:
    """Read and validate a scenario YAML file; errors carry file and line.

    With `jobs`, job names in selectors are checked too.
    """
    source = read_yaml(path)
    try:
        return parse_scenario(source.data, topology, jobs)
    except InvalidInputError as exc:
        raise source.locate(exc.problems) from None


def parse_scenarios(
    data: Sequence[Any], topology: Topology, jobs: Sequence[Job] = (), where: str = "scenarios"
) -> list[Scenario]:
    """Several scenario mappings (e.g. from a request); paths read `scenarios[1].changes[0]...`."""
    problems: list[FieldProblem] = []
    scenarios = []
    for i, entry in enumerate(data):
        try:
            scenarios.append(parse_scenario(entry, topology, jobs))
        except InvalidInputError as exc:
            problems += [_prefixed(p, f"{where}[{i}]") for p in exc.problems]
    if problems:
        raise InvalidInputError(problems)
    return scenarios


def parse_scenario(data: Any, topology: Topology, jobs: Sequence[Job] = ()) -> Scenario:
    """Build a Scenario from YAML-shaped data, or raise InvalidInputError listing problems."""
    problems = schema_problems(data, "scenario")
    if problems:
        raise InvalidInputError(problems)
    extended, add_sites, add_links, problems = _additions(data, topology)
    changes: list[Change] = []
    for i, raw in enumerate(data.get("changes") or []):
        change, found = _change(raw, f"changes[{i}]", extended, jobs)
        problems += found
        if change is not None:
            changes.append(change)
    sweep = None
    if "sweep" in data:
        sweep, found = _sweep(data["sweep"], data.get("changes") or [])
        problems += found
    if not problems and not changes and not add_sites and not add_links:
        problems.append(
            FieldProblem("changes", "must list at least one change (or add_sites / add_links)")
        )
    if problems:
        raise InvalidInputError(problems)
    return Scenario(
        name=data["name"],
        changes=tuple(changes),
        add_sites=add_sites,
        add_links=add_links,
        sweep=sweep,
        description=str(data.get("description", "")),
    )


def _prefixed(problem: FieldProblem, prefix: str) -> FieldProblem:
    path = f"{prefix}.{problem.path}" if problem.path else prefix
    return FieldProblem(path, problem.message, problem.file, problem.line)


def _additions(
    data: dict[str, Any], topology: Topology
) -> tuple[Topology, tuple[Site, ...], tuple[Link, ...], list[FieldProblem]]:
    """Check add_sites / add_links by parsing the topology with them appended."""
    new_sites = data.get("add_sites") or []
    new_links = data.get("add_links") or []
    if not new_sites and not new_links:
        return topology, (), (), []
    merged = topology_data(topology)
    site_base, link_base = len(merged["sites"]), len(merged["links"])
    merged["sites"] += new_sites
    merged["links"] += new_links
    try:
        extended = parse_topology(merged)
    except InvalidInputError as exc:
        remap = {"sites": ("add_sites", site_base), "links": ("add_links", link_base)}
        return topology, (), (), [_remapped(p, remap) for p in exc.problems]
    sites = tuple(extended.sites[s["name"]] for s in new_sites)
    links = extended.links[link_base:]
    return extended, sites, links, []


_INDEXED = re.compile(r"^(sites|links)\[(\d+)\]")


def _remapped(problem: FieldProblem, remap: Mapping[str, tuple[str, int]]) -> FieldProblem:
    """`sites[15].hub` of the merged topology is `add_sites[2].hub` of the scenario."""
    match = _INDEXED.match(problem.path)
    if match is None:
        return problem
    section, base = remap[match.group(1)]
    index = int(match.group(2)) - base
    if index < 0:
        return problem
    path = f"{section}[{index}]{problem.path[match.end() :]}"
    return FieldProblem(path, problem.message)


def _change(
    raw: dict[str, Any], at: str, topology: Topology, jobs: Sequence[Job]
) -> tuple[Change | None, list[FieldProblem]]:
    kinds = [k for k in SELECTORS if k in raw]
    if len(kinds) != 1:
        found = f" (found {', '.join(kinds)})" if kinds else ""
        return None, [
            FieldProblem(at, f"must select exactly one of: {', '.join(SELECTORS)}{found}")
        ]
    kind = kinds[0]
    selector, problems = _selector(kind, raw[kind], f"{at}.{kind}", topology, jobs)
    settings = [k for k in SETTINGS if k in raw]
    if not settings:
        problems.append(FieldProblem(at, f"must set one of: {', '.join(APPLIES[kind])}"))
    for key in settings:
        if key not in APPLIES[kind]:
            problems.append(
                FieldProblem(
                    f"{at}.{key}",
                    f"does not apply to a {kind} selection (it can set: "
                    f"{', '.join(APPLIES[kind])})",
                )
            )
    if kind == "link" and raw.get("status") not in (None, *LINK_STATUSES):
        problems.append(
            FieldProblem(f"{at}.status", f"a link is up or down, got {raw['status']!r}")
        )
    if problems:
        return None, problems
    return Change(
        select=selector,
        status=raw.get("status"),
        **{k: float(raw[k]) for k in SETTINGS if k != "status" and k in raw},
    ), []


def _names(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _selector(
    kind: str, value: Any, at: str, topology: Topology, jobs: Sequence[Job]
) -> tuple[Selector, list[FieldProblem]]:
    problems: list[FieldProblem] = []
    if kind in ("site", "hub", "provider"):
        known = {
            "site": set(topology.sites),
            "hub": set(topology.hubs),
            "provider": {s.provider for s in topology.sites.values()},
        }[kind]
        names = _names(value)
        problems += _unknown(at, value, kind, known)
        return Selector(kind, names=names), problems
    if kind == "zone":
        return Selector(kind, names=(value,)), problems
    if kind == "pool":
        sites = _names(value.get("site", ()))
        types = _names(value.get("accelerator", ()))
        problems += _unknown(f"{at}.site", value.get("site", ()), "site", set(topology.sites))
        problems += _unknown(
            f"{at}.accelerator",
            value.get("accelerator", ()),
            "accelerator type",
            set(topology.accelerators),
        )
        selector = Selector(kind, sites=sites, accelerators=types)
        if not problems and not any(
            selector.selects_pool(s, p.accelerator, topology)
            for s in topology.sites.values()
            for p in s.pools
        ):
            problems.append(FieldProblem(at, "selects no pool: " + _pools_at(sites, topology)))
        return selector, problems
    if kind == "link":
        entries = [value] if isinstance(value, dict) else value
        pairs = {frozenset((ln.a, ln.b)) for ln in topology.links}
        links = []
        for k, entry in enumerate(entries):
            where = at if isinstance(value, dict) else f"{at}[{k}]"
            links.append((entry["a"], entry["b"]))
            if frozenset((entry["a"], entry["b"])) not in pairs:
                problems.append(
                    FieldProblem(where, f"no link between {entry['a']!r} and {entry['b']!r}")
                )
        return Selector(kind, links=tuple(links)), problems
    # kind == "job"
    if isinstance(value, dict):
        kinds = _names(value.get("kind", ()))
        origins = _names(value.get("origin", ()))
        problems += _unknown(
            f"{at}.origin", value.get("origin", ()), "region", set(topology.regions)
        )
        return Selector(kind, kinds=kinds, origins=origins), problems
    names = _names(value)
    if jobs:
        problems += _unknown(at, value, "job", {j.name for j in jobs} | {EVERY_JOB})
    return Selector(kind, names=names), problems


def _pools_at(sites: tuple[str, ...], topology: Topology) -> str:
    """What the selected sites do have, for the "selects no pool" message."""
    shown = [topology.sites[s] for s in sites] if sites else []
    if not shown:
        return "no site has that accelerator type"
    return "; ".join(f"{s.name} has {', '.join(p.accelerator for p in s.pools)}" for s in shown)


def _unknown(at: str, value: Any, what: str, known: set[str]) -> list[FieldProblem]:
    if isinstance(value, str):
        return [] if value in known else [unknown_reference(at, what, value, known)]
    return [
        unknown_reference(f"{at}[{k}]", what, name, known)
        for k, name in enumerate(value)
        if name not in known
    ]


def _sweep(raw: dict[str, Any], changes: list[dict[str, Any]]) -> tuple[Sweep, list[FieldProblem]]:
    sweep = Sweep(raw["change"], raw["field"], float(raw["from"]), float(raw["to"]), raw["steps"])
    problems = []
    if sweep.change >= len(changes):
        problems.append(
            FieldProblem(
                "sweep.change",
                f"must be the index of a change (0 to {len(changes) - 1}), got {sweep.change}"
                if changes
                else "there are no changes to sweep; add one under changes",
            )
        )
    else:
        target = changes[sweep.change]
        kind = next((k for k in SELECTORS if k in target), None)
        if kind is not None and sweep.field not in APPLIES[kind]:
            numbers = ", ".join(k for k in APPLIES[kind] if k != "status")
            problems.append(
                FieldProblem(
                    "sweep.field",
                    f"{sweep.field} does not apply to changes[{sweep.change}], a {kind} "
                    f"selection (it can set: {numbers})",
                )
            )
    if sweep.field != "count_factor" and min(sweep.start, sweep.stop) <= 0:
        problems.append(FieldProblem("sweep.from", f"{sweep.field} values must be > 0"))
    if sweep.start == sweep.stop:
        problems.append(FieldProblem("sweep.to", "must differ from `from`"))
    field = load_schema("scenario")["$defs"]["change"]["properties"].get(sweep.field, {})
    if max(sweep.start, sweep.stop) > field.get("maximum", math.inf):  # the change's own range
        problems.append(
            FieldProblem("sweep.to", f"{sweep.field} values must be <= {field['maximum']}")
        )
    return sweep, problems
