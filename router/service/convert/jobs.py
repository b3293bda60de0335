"""Jobs: proto Job <-> the jobs-file mapping that parse_jobs validates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from router.errors import FieldProblem, InvalidInputError
from router.model.jobs import Job
from router.service.convert.enums import (
    KIND_PREFIX,
    PRECISION_PREFIX,
    PREFER_PREFIX,
    ZONE_PREFIX,
    enum_name,
    enum_value,
)
from router.v1 import router_pb2 as pb

# --- jobs: proto <-> jobs-file mapping --------------------------------------------------


def job_entry(job: pb.Job) -> dict[str, Any]:
    """A proto Job as a jobs-file entry: set fields only, so parse_jobs names what is missing."""
    entry: dict[str, Any] = {}
    if job.name:
        entry["name"] = job.name
    if job.kind:
        entry["kind"] = enum_name(pb.JobKind, KIND_PREFIX, job.kind)
    if job.origin:
        entry["origin"] = job.origin
    if job.tenant:
        entry["tenant"] = job.tenant
    entry["max_latency_ms"] = job.max_latency_ms
    if job.HasField("accelerators"):
        acc = job.accelerators
        accelerators: dict[str, Any] = {"count": acc.count}
        if acc.types:
            accelerators["types"] = list(acc.types)
        if acc.stacks:
            accelerators["stacks"] = list(acc.stacks)
        if acc.HasField("min_memory_gb"):
            accelerators["min_memory_gb"] = acc.min_memory_gb
        if acc.hours_on:
            accelerators["hours_on"] = acc.hours_on
        entry["accelerators"] = accelerators
    entry["hours"] = job.hours
    if job.data_gb:
        entry["data_gb"] = job.data_gb
    if job.HasField("deadline_hours"):
        entry["deadline_hours"] = job.deadline_hours
    if job.allowed_zones:
        entry["allowed_zones"] = [
            enum_name(pb.Zone, ZONE_PREFIX, z) or "unspecified" for z in job.allowed_zones
        ]
    if job.allowed_hubs:
        entry["allowed_hubs"] = list(job.allowed_hubs)
    if job.denied_providers:
        entry["denied_providers"] = list(job.denied_providers)
    if job.HasField("priority"):
        entry["priority"] = job.priority
    if job.precision:
        entry["precision"] = enum_name(pb.Precision, PRECISION_PREFIX, job.precision)
    if job.allowed_providers:
        entry["allowed_providers"] = list(job.allowed_providers)
    if job.prefer:
        entry["prefer"] = enum_name(pb.Preference, PREFER_PREFIX, job.prefer)
    return entry


def job_spec(job: Job) -> dict[str, Any]:
    """A domain Job back in its jobs-file shape."""
    acc: dict[str, Any] = {"count": job.count, "hours_on": job.hours_on}
    if job.types:
        acc["types"] = list(job.types)
    if job.stacks:
        acc["stacks"] = list(job.stacks)
    if job.min_memory_gb:
        acc["min_memory_gb"] = job.min_memory_gb
    entry: dict[str, Any] = {
        "name": job.name,
        "kind": job.kind,
        "origin": job.origin,
        "max_latency_ms": job.max_latency_ms,
        "accelerators": acc,
        "hours": job.hours,
        "precision": job.precision,
        "priority": job.priority,
    }
    if job.data_gb:
        entry["data_gb"] = job.data_gb
    if job.deadline_hours is not None:
        entry["deadline_hours"] = job.deadline_hours
    for key in ("allowed_zones", "allowed_hubs", "allowed_providers", "denied_providers"):
        if getattr(job, key):
            entry[key] = list(getattr(job, key))
    if job.prefer != "cheapest":
        entry["prefer"] = job.prefer
    if job.tenant:
        entry["tenant"] = job.tenant
    return entry


_JOB_KEYS = {
    "name", "kind", "origin", "max_latency_ms", "accelerators", "hours", "data_gb",
    "deadline_hours", "allowed_zones", "allowed_hubs", "denied_providers", "priority",
    "precision", "allowed_providers", "prefer", "tenant",
}  # fmt: skip
_ACC_KEYS = {"count", "types", "stacks", "min_memory_gb", "hours_on"}


def job_message(job: Job | Mapping[str, Any], path: str = "job") -> pb.Job:
    """A proto Job from a domain Job or a jobs-file entry; wrong shapes name their path."""
    entry = job_spec(job) if isinstance(job, Job) else job
    if not isinstance(entry, Mapping):
        raise InvalidInputError([FieldProblem(path, "must be a mapping (a jobs-file entry)")])
    problems = [FieldProblem(f"{path}.{k}", "unknown field") for k in entry if k not in _JOB_KEYS]
    acc = entry.get("accelerators", {})
    if isinstance(acc, Mapping):
        problems += [
            FieldProblem(f"{path}.accelerators.{k}", "unknown field")
            for k in acc
            if k not in _ACC_KEYS
        ]
    if problems:
        raise InvalidInputError(problems)
    msg = pb.Job()
    try:
        _fill_job(msg, entry, path)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError([FieldProblem(path, f"wrong type of value: {exc}")]) from None
    return msg


def _fill_job(msg: pb.Job, entry: Mapping[str, Any], path: str) -> None:
    for key in ("name", "origin", "tenant"):
        if key in entry:
            setattr(msg, key, entry[key])
    for key in ("max_latency_ms", "hours", "data_gb", "deadline_hours"):
        if entry.get(key) is not None:
            setattr(msg, key, float(entry[key]))
    if entry.get("priority") is not None:
        msg.priority = int(entry["priority"])
    msg.kind = pb.JobKind.ValueType(
        enum_value(pb.JobKind, KIND_PREFIX, entry.get("kind", ""), f"{path}.kind")
    )
    msg.precision = pb.Precision.ValueType(
        enum_value(pb.Precision, PRECISION_PREFIX, entry.get("precision", ""), f"{path}.precision")
    )
    zones = entry.get("allowed_zones") or []
    msg.allowed_zones.extend(
        pb.Zone.ValueType(enum_value(pb.Zone, ZONE_PREFIX, z, f"{path}.allowed_zones[{k}]"))
        for k, z in enumerate(zones)
    )
    msg.allowed_hubs.extend(entry.get("allowed_hubs") or [])
    msg.denied_providers.extend(entry.get("denied_providers") or [])
    msg.allowed_providers.extend(entry.get("allowed_providers") or [])
    msg.prefer = pb.Preference.ValueType(
        enum_value(pb.Preference, PREFER_PREFIX, entry.get("prefer", ""), f"{path}.prefer")
    )
    acc = entry.get("accelerators")
    if isinstance(acc, Mapping):
        msg.accelerators.count = int(acc.get("count", 0))
        msg.accelerators.types.extend(acc.get("types") or [])
        msg.accelerators.stacks.extend(acc.get("stacks") or [])
        if acc.get("min_memory_gb") is not None:
            msg.accelerators.min_memory_gb = float(acc["min_memory_gb"])
        if acc.get("hours_on"):
            msg.accelerators.hours_on = acc["hours_on"]


def rebase(error: InvalidInputError, old: str, new: str) -> InvalidInputError:
    """The same problems with field paths under `new` instead of `old` (jobs[0] -> job)."""
    return InvalidInputError(
        [
            FieldProblem(
                new + p.path[len(old) :] if p.path.startswith(old) else p.path,
                p.message,
                p.file,
                p.line,
            )
            for p in error.problems
        ]
    )
