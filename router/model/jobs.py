"""Jobs: what users ask to run, loaded from YAML (or requests) and checked against a topology."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from router.errors import FieldProblem, InvalidInputError
from router.model.bulk import gc_paused
from router.model.schema import schema_problems, unknown_reference
from router.model.sourcefile import read_source
from router.model.topology import Topology

KINDS = ("training", "finetune", "inference", "batch", "hpc", "realtime")
INFERENCE_KINDS = frozenset({"inference", "batch"})
# Service jobs serve traffic for a wall-clock duration: they keep their hours and scale
# their device count by the part (DESIGN.md section 1); every other kind is work.
SERVICE_KINDS = frozenset({"inference", "realtime"})
PREFERENCES = ("cheapest", "lowest_latency")


@dataclass(frozen=True, slots=True)
class Job:
    """A gang-scheduled request: `count` devices of one pool for `hours` (on `hours_on`)."""

    name: str
    kind: str
    origin: str
    max_latency_ms: float
    count: int
    types: tuple[str, ...]
    stacks: tuple[str, ...]
    min_memory_gb: float
    hours_on: str
    precision: str
    hours: float
    data_gb: float = 0.0
    deadline_hours: float | None = None
    allowed_zones: tuple[str, ...] = ()
    allowed_hubs: tuple[str, ...] = ()
    denied_providers: tuple[str, ...] = ()
    priority: int = 1
    allowed_providers: tuple[str, ...] = ()
    prefer: str = "cheapest"
    tenant: str = ""

    @property
    def needs_training(self) -> bool:
        """Whether only training-capable accelerators can run this job."""
        return self.kind not in INFERENCE_KINDS

    @property
    def is_service(self) -> bool:
        """Service jobs keep their hours and scale devices; work jobs the other way round."""
        return self.kind in SERVICE_KINDS

    @property
    def work(self) -> float:
        """Priority-weighted device-hours: what the planner maximises first."""
        return self.priority * self.count * self.hours


def load_jobs(path: str | Path, topology: Topology) -> list[Job]:
    """Read and validate a jobs file (YAML; `.json`; `.jsonl`, one job per line); errors
    carry file and line."""
    with gc_paused():
        source = read_source(path)
        try:
            return parse_jobs(source.data, topology)
        except InvalidInputError as exc:
            raise source.locate(exc.problems) from None


def parse_jobs(data: Any, topology: Topology) -> list[Job]:
    """Build jobs from `{"jobs": [...]}`, or raise InvalidInputError listing every problem."""
    problems = schema_problems(data, "jobs")
    if problems:
        raise InvalidInputError(problems)
    jobs: list[Job] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(data["jobs"]):
        where = f"jobs[{i}]"
        if entry["name"] in seen:
            problems.append(
                FieldProblem(
                    f"{where}.name",
                    f"duplicate job name (already used by jobs[{seen[entry['name']]}])",
                )
            )
        seen.setdefault(entry["name"], i)
        entry_problems = _reference_problems(entry, where, topology)
        problems += entry_problems
        if not entry_problems:
            jobs.append(_build(entry))
    if problems:
        raise InvalidInputError(problems)
    return jobs


def _build(entry: dict[str, Any]) -> Job:
    acc = entry["accelerators"]
    types = tuple(acc.get("types", ()))
    return Job(
        name=entry["name"],
        kind=entry["kind"],
        origin=entry["origin"],
        max_latency_ms=float(entry["max_latency_ms"]),
        count=int(acc["count"]),
        types=types,
        stacks=tuple(acc.get("stacks", ())),
        min_memory_gb=float(acc.get("min_memory_gb", 0.0)),
        hours_on=acc.get("hours_on") or types[0],
        precision=_precision(entry),
        hours=float(entry["hours"]),
        data_gb=float(entry.get("data_gb", 0.0)),
        deadline_hours=float(entry["deadline_hours"]) if "deadline_hours" in entry else None,
        allowed_zones=tuple(entry.get("allowed_zones", ())),
        allowed_hubs=tuple(entry.get("allowed_hubs", ())),
        denied_providers=tuple(entry.get("denied_providers", ())),
        priority=int(entry.get("priority", 1)),
        allowed_providers=tuple(entry.get("allowed_providers", ())),
        prefer=str(entry.get("prefer", "cheapest")),
        tenant=str(entry.get("tenant", "")),
    )


def _precision(entry: dict[str, Any]) -> str:
    default = "fp64" if entry["kind"] == "hpc" else "fp16"
    return str(entry.get("precision", default))


def _reference_problems(
    entry: dict[str, Any], where: str, topology: Topology
) -> list[FieldProblem]:
    problems = []
    if entry["origin"] not in topology.regions:
        problems.append(
            unknown_reference(f"{where}.origin", "region", entry["origin"], set(topology.regions))
        )
    acc = entry["accelerators"]
    catalog = set(topology.accelerators)
    stacks = {a.stack for a in topology.accelerators.values()}
    for k, name in enumerate(acc.get("types", ())):
        if name not in catalog:
            problems.append(
                unknown_reference(
                    f"{where}.accelerators.types[{k}]", "accelerator type", name, catalog
                )
            )
    for k, stack in enumerate(acc.get("stacks", ())):
        if stack not in stacks:
            problems.append(
                unknown_reference(f"{where}.accelerators.stacks[{k}]", "stack", stack, stacks)
            )
    reference = acc.get("hours_on") or (acc.get("types") or [None])[0]
    if reference is None:
        problems.append(
            FieldProblem(
                f"{where}.accelerators.hours_on",
                "is required when only stacks are given (the type `hours` is measured on)",
            )
        )
    elif reference not in catalog:
        if "hours_on" in acc:
            problems.append(
                unknown_reference(
                    f"{where}.accelerators.hours_on", "accelerator type", reference, catalog
                )
            )
    else:
        precision = _precision(entry)
        if precision not in topology.accelerators[reference].tflops:
            field = "precision" if "precision" in entry else "kind"
            problems.append(
                FieldProblem(
                    f"{where}.{field}",
                    f"the reference type {reference} has no {precision} figure, so `hours` "
                    f"cannot be scaled; choose another precision or hours_on",
                )
            )
    hubs = set(topology.hubs)
    for k, hub in enumerate(entry.get("allowed_hubs", ())):
        if hub not in hubs:
            problems.append(unknown_reference(f"{where}.allowed_hubs[{k}]", "hub", hub, hubs))
    providers = {s.provider for s in topology.sites.values()}
    for key in ("allowed_providers", "denied_providers"):
        for k, provider in enumerate(entry.get(key, ())):
            if provider not in providers:
                problems.append(
                    unknown_reference(f"{where}.{key}[{k}]", "provider", provider, providers)
                )
    return problems
