"""Why a job was not placed, in one line: `0/14 sites fit: 9 latency (best 12.3 ms > 10 ms)`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from router.model.jobs import Job
from router.place.filters import FILTERS, Describe, Reason
from router.report.words import plural

# Each reason code's text and tie rank, from the filter that gives it.
_TEXTS: dict[str, tuple[tuple[int, int], Describe]] = {
    code: ((f.rank, k), describe)
    for f in FILTERS
    for k, (code, describe) in enumerate(f.texts.items())
}


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
    if job.is_service:
        needs = f"{job.count} {job.hours_on} or the equivalent"
    else:
        needs = plural(job.count, "device")
    return (
        f"{fitting_sites}/{total_sites} sites fit, but their free devices or link bandwidth "
        f"went to work of higher priority or lower total cost (needs {needs})"
    )


def reason_text(job: Job, reason: Reason) -> str:
    """One candidate's reason in words, e.g. "capacity (needs 10 H800 for 8 H20, 4 free)"."""
    return _describe(job, reason.code, {"": reason})


def _rank(code: str) -> tuple[int, int]:
    """Equally common reasons: in the filters' ranks (an unknown code last)."""
    entry = _TEXTS.get(code)
    return entry[0] if entry else (len(FILTERS), 0)


def _describe(job: Job, code: str, rejections: Mapping[str, Reason]) -> str:
    reasons = [r for r in rejections.values() if r.code == code and r.measure is not None]
    entry = _TEXTS.get(code)
    text = entry[1](job, reasons) if entry else None
    return code if text is None else text
