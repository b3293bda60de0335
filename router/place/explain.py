"""Why a job was not placed, in one line: `0/14 sites fit: 9 latency (best 12.3 ms > 10 ms)`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from router.model.jobs import Job
from router.place.filters import Reason

# Most common first in the sentence, then this order for ties.
_ORDER = (
    "latency",
    "accelerator",
    "memory",
    "training",
    "precision",
    "deadline",
    "capacity",
    "zone",
    "hub",
    "provider",
    "site_down",
    "site_drain",
    "unreachable",
    "no_pools",
)


def reason_counts(rejections: Mapping[str, Reason]) -> dict[str, int]:
    """How many sites each reason rejected, e.g. {"latency": 9, "capacity": 2}."""
    counts = Counter(r.code for r in rejections.values())
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], _rank(kv[0]))))


def explain_rejections(job: Job, rejections: Mapping[str, Reason], total_sites: int) -> str:
    """The one-line explanation for a job that fits no site."""
    fit = total_sites - len(rejections)
    parts = [
        f"{count} {_describe(job, code, rejections)}"
        for code, count in reason_counts(rejections).items()
    ]
    return f"{fit}/{total_sites} sites fit: " + ", ".join(parts)


def explain_contention(job: Job, fitting_sites: int, total_sites: int) -> str:
    """The explanation for a job that fits somewhere but lost the capacity to other work."""
    return (
        f"{fitting_sites}/{total_sites} sites fit, but their free devices or link bandwidth "
        f"went to work of higher priority or lower total cost (needs {job.count} devices)"
    )


def _rank(code: str) -> int:
    return _ORDER.index(code) if code in _ORDER else len(_ORDER)


def _measures(code: str, rejections: Mapping[str, Reason]) -> list[float]:
    return [r.measure for r in rejections.values() if r.code == code and r.measure is not None]


def _describe(job: Job, code: str, rejections: Mapping[str, Reason]) -> str:
    values = _measures(code, rejections)
    if code == "latency" and values:
        return f"latency (best {min(values):.1f} ms > {job.max_latency_ms:g} ms)"
    if code == "accelerator":
        wanted = "/".join([*job.types, *(s.upper() for s in job.stacks)])
        return f"no {wanted} pool"
    if code == "memory" and values:
        return f"memory (largest {max(values):g} GB < {job.min_memory_gb:g} GB)"
    if code == "training":
        return "inference-only pools"
    if code == "precision":
        return f"no {job.precision} support"
    if code == "deadline" and values and job.deadline_hours is not None:
        return f"deadline (best {min(values):.1f} h > {job.deadline_hours:g} h)"
    if code == "capacity" and values:
        return f"capacity (needs {job.count}, {max(values):g} free)"
    if code == "zone":
        return f"outside zones {'/'.join(job.allowed_zones)}"
    if code == "hub":
        return f"outside hubs {'/'.join(job.allowed_hubs)}"
    if code == "provider":
        return f"denied provider ({'/'.join(job.denied_providers)})"
    if code == "site_down":
        return "site down"
    if code == "site_drain":
        return "site draining"
    if code == "unreachable":
        return "unreachable (no link up)"
    if code == "no_pools":
        return "no pools"
    return code
