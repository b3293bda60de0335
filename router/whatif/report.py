"""A what-if comparison for people (tables) and for scripts (the `whatif --json` object)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from router.report.tables import cny, format_table
from router.results import plan_to_dict
from router.whatif.compare import Comparison, Flip, ScenarioOutcome, SweepResult


def comparison_to_dict(comparison: Comparison) -> dict[str, Any]:
    """The JSON object of `westward whatif --json`."""
    return {
        "baseline": outcome_to_dict(comparison.baseline),
        "scenarios": [outcome_to_dict(o) for o in comparison.results],
        "sweeps": [sweep_to_dict(s) for s in comparison.sweeps],
    }


def outcome_to_dict(o: ScenarioOutcome) -> dict[str, Any]:
    """One plan's figures; money in CNY rounded to fen, shares as fractions."""
    return {
        "name": o.name,
        "sweep_value": o.sweep_value,
        "jobs": o.jobs,
        "placed": o.placed,
        "total_cost_cny": round(o.total_cost_cny, 2),
        "stay_east_cost_cny": round(o.stay_east_cost_cny, 2),
        "savings_cny": round(o.savings_cny, 2),
        "unlocked_jobs": o.unlocked_jobs,
        "west_share": round(o.west_share, 6),
        "latency_p50_ms": o.latency_p50_ms,
        "latency_p95_ms": o.latency_p95_ms,
        "unplaced": [{"job": u.job, "reason": u.reason} for u in o.unplaced],
        "cost_by_hub": {k: round(v, 2) for k, v in o.cost_by_hub.items()},
        "cost_by_provider": {k: round(v, 2) for k, v in o.cost_by_provider.items()},
        "cost_delta_cny": round(o.cost_delta_cny, 2),
        "placed_delta": o.placed_delta,
        "moves": [
            {
                "job": m.job,
                "from_site": m.from_site,
                "to_site": m.to_site,
                "from_zone": o.zone_of(m.from_site),
                "to_zone": o.zone_of(m.to_site),
            }
            for m in o.moves
        ],
        "lost_jobs": list(o.lost_jobs),
        "new_jobs": list(o.new_jobs),
        "plan": plan_to_dict(o.plan),
    }


def sweep_to_dict(s: SweepResult) -> dict[str, Any]:
    """A sweep: its points (outcomes) and the jobs that flip zone between neighbours."""
    return {
        "scenario": s.name,
        "field": s.field,
        "change": s.change,
        "values": s.values,
        "points": [outcome_to_dict(o) for o in s.outcomes],
        "flips": [
            {
                "job": f.job,
                "before_value": f.before_value,
                "value": f.value,
                "from_zone": f.from_zone,
                "to_zone": f.to_zone,
                "from_site": f.from_site,
                "to_site": f.to_site,
            }
            for f in s.flips
        ],
    }


def render_comparison(comparison: Comparison) -> str:
    """Side-by-side tables: headline figures, moves, unplaced jobs, cost by hub and provider."""
    outcomes = [comparison.baseline, *comparison.results]
    out = [_headline(outcomes)]
    moved = [o for o in comparison.results if o.moves or o.lost_jobs or o.new_jobs]
    if moved:
        out += ["", "Jobs that moved (against the baseline):"]
        for o in moved:
            out += [f"  {o.name}:"]
            out += [
                f"    {m.job}: {m.from_site} ({o.zone_of(m.from_site)}) -> "
                f"{m.to_site} ({o.zone_of(m.to_site)})"
                for m in o.moves
            ]
            if o.lost_jobs:
                out.append(f"    no longer placed: {', '.join(o.lost_jobs)}")
            if o.new_jobs:
                out.append(f"    new jobs: {len(o.new_jobs)} ({_short(o.new_jobs)})")
    if any(o.unplaced for o in outcomes):
        out += ["", "Unplaced jobs and why:"]
        out += _unplaced_lines(comparison.baseline, comparison.results)
    out += ["", "Cost by hub (CNY):", _breakdown(outcomes, "hub")]
    out += ["", "Cost by provider (CNY):", _breakdown(outcomes, "provider")]
    for sweep in comparison.sweeps:
        out += ["", render_sweep(sweep)]
    return "\n".join(out)


def _unplaced_lines(baseline: ScenarioOutcome, results: list[ScenarioOutcome]) -> list[str]:
    """Every unplaced job of the baseline; for scenarios only what differs from it."""
    lines = [f"  baseline: {u.job}: {u.reason}" for u in baseline.unplaced]
    known = {(u.job, u.reason) for u in baseline.unplaced}
    for o in results:
        same = [u for u in o.unplaced if (u.job, u.reason) in known]
        lines += [f"  {o.name}: {u.job}: {u.reason}" for u in o.unplaced if u not in same]
        if same:
            lines.append(f"  {o.name}: {_short([u.job for u in same])} (as in the baseline)")
    return lines


def _headline(outcomes: list[ScenarioOutcome]) -> str:
    headers = [
        "SCENARIO",
        "COST_CNY",
        "VS_BASE",
        "SAVINGS",
        "WEST%",
        "PLACED",
        "UNPLACED",
        "P50_MS",
        "P95_MS",
        "MOVED",
    ]
    rows = [
        [
            o.name,
            cny(o.total_cost_cny),
            _signed(o.cost_delta_cny) if k else "-",
            cny(o.savings_cny),
            round(100 * o.west_share, 1),
            o.placed,
            len(o.unplaced),
            _ms(o.latency_p50_ms),
            _ms(o.latency_p95_ms),
            len(o.moves) if k else "-",
        ]
        for k, o in enumerate(outcomes)
    ]
    return _table(headers, rows)


def _breakdown(outcomes: list[ScenarioOutcome], by: str) -> str:
    tables = [o.cost_by_hub if by == "hub" else o.cost_by_provider for o in outcomes]
    keys = sorted({k for t in tables for k in t})
    rows = [[key, *(cny(t.get(key, 0.0)) for t in tables)] for key in keys]
    return _table([by.upper(), *(o.name for o in outcomes)], rows)


def render_sweep(sweep: SweepResult) -> str:
    """A sweep as a table of its points, then the flips between neighbouring values."""
    headers = [sweep.field.upper(), "COST_CNY", "VS_BASE", "WEST%", "PLACED", "UNPLACED", "P95_MS"]
    rows = [
        [
            f"{o.sweep_value:g}" if o.sweep_value is not None else "?",
            cny(o.total_cost_cny),
            _signed(o.cost_delta_cny),
            round(100 * o.west_share, 1),
            o.placed,
            len(o.unplaced),
            _ms(o.latency_p95_ms),
        ]
        for o in sweep.outcomes
    ]
    out = [
        f"Sweep {sweep.name}: {sweep.field} of changes[{sweep.change}]",
        _table(headers, rows),
    ]
    if not sweep.flips:
        out.append("No job changes zone over this range.")
        return "\n".join(out)
    out.append("Where placements flip zone:")
    out += [_flip_line(f) for f in sweep.flips]
    return "\n".join(out)


def _flip_line(f: Flip) -> str:
    return (
        f"  {f.before_value:g} -> {f.value:g}: {f.job} {f.from_zone} -> {f.to_zone} "
        f"({f.from_site} -> {f.to_site})"
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A table with every column but the first right-aligned (money is text here)."""
    cells = [[str(v) if isinstance(v, str) else _number(v) for v in row] for row in rows]
    return format_table(headers, cells, right=[False] + [True] * (len(headers) - 1))


def _number(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def _signed(value: float) -> str:
    return ("+" if value > 0.5 else "") + cny(value)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _short(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... (+{len(names) - limit})" if len(names) > limit else "")
