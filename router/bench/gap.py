"""Run the solver on GAP benchmark files and compare with published reference values."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from router.errors import FieldProblem, InvalidInputError
from router.report.tables import format_table
from router.report.words import plural
from router.solve.gapfile import gap_problem, load_gap
from router.solve.pipeline import solve


@dataclass(frozen=True, slots=True)
class GapResult:
    """One instance's outcome; objective is None when no assignment was found."""

    instance: str
    agents: int
    items: int
    objective: int | None
    bound: int
    status: str
    seconds: float
    best_known: int | None = None
    optimum: int | None = None

    @property
    def gap_pct(self) -> float | None:
        """How far the objective is above the best known value, in percent."""
        if self.objective is None or not self.best_known:
            return None
        return 100.0 * (self.objective - self.best_known) / self.best_known


@dataclass(frozen=True, slots=True)
class Reference:
    """Published values for one instance (minimisation)."""

    best_known: int | None
    optimum: int | None


def load_reference(path: Path) -> dict[str, Reference]:
    """Read a reference.csv: instance, optimum and best_known_value columns (others ignored)."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise InvalidInputError([FieldProblem("", f"cannot read: {exc}", str(path))]) from exc
    out: dict[str, Reference] = {}
    for line, row in enumerate(rows, start=2):
        try:
            out[row["instance"]] = Reference(
                _optional_int(row["best_known_value"]), _optional_int(row["optimum"])
            )
        except (KeyError, ValueError) as exc:
            message = f"expected columns instance, optimum, best_known_value as integers: {exc}"
            raise InvalidInputError([FieldProblem("", message, str(path), line)]) from exc
    return out


def run_gap(
    paths: Sequence[str | Path], time_limit_s: float, reference: Path | None = None
) -> list[GapResult]:
    """Solve every instance of every file with `time_limit_s` each."""
    refs = load_reference(reference) if reference is not None else {}
    results: list[GapResult] = []
    for raw in paths:
        path = Path(raw)
        for instance in load_gap(path):
            key = f"{path.parent.name}/{instance.name}"
            ref = refs.get(key) or refs.get(instance.name)
            sol = solve(gap_problem(instance), time_limit_s)
            found = sol.status in ("optimal", "feasible")
            results.append(
                GapResult(
                    instance=key if key in refs else instance.name,
                    agents=instance.agents,
                    items=instance.items,
                    objective=sol.cost if found else None,
                    bound=sol.cost_bound,
                    status=sol.status,
                    seconds=round(sol.seconds, 3),
                    best_known=ref.best_known if ref else None,
                    optimum=ref.optimum if ref else None,
                )
            )
    return results


def gap_results_to_json(results: Sequence[GapResult]) -> list[dict[str, object]]:
    """The `bench gap --json` shape: one object per instance."""
    out: list[dict[str, object]] = []
    for r in results:
        row: dict[str, object] = {
            "instance": r.instance,
            "agents": r.agents,
            "items": r.items,
            "objective": r.objective,
            "bound": r.bound,
            "status": r.status,
            "seconds": r.seconds,
        }
        if r.best_known is not None:
            row["best_known"] = r.best_known
            gap = r.gap_pct
            row["gap_pct"] = None if gap is None else round(gap, 4)
        out.append(row)
    return out


def format_gap_table(results: Sequence[GapResult], *, markdown: bool = False) -> str:
    """A readable table (plain text, or markdown) with a summary line."""
    header = ["instance", "m", "n", "objective", "bound", "best known", "gap %", "status", "s"]
    rows = [
        [
            r.instance,
            str(r.agents),
            str(r.items),
            "-" if r.objective is None else str(r.objective),
            str(r.bound),
            "-" if r.best_known is None else str(r.best_known),
            "-" if r.gap_pct is None else f"{r.gap_pct:.3f}",
            r.status,
            f"{r.seconds:.2f}",
        ]
        for r in results
    ]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    else:
        lines = [format_table(header, rows, right=[False] * len(header))]
    lines.append("")
    lines.append(summarize(results))
    return "\n".join(lines)


def summarize(results: Sequence[GapResult]) -> str:
    """One line: how many proven optimal, how many at the best known value, the worst gap."""
    optimal = sum(r.status == "optimal" for r in results)
    known = [r for r in results if r.gap_pct is not None]
    at_best = sum(r.objective == r.best_known for r in known)
    worst = max((r.gap_pct for r in known if r.gap_pct is not None), default=None)
    text = f"{plural(len(results), 'instance')}: {optimal} proven optimal"
    if known:
        text += f", {at_best}/{len(known)} at best known, worst gap {worst:.3f}%"
    return text


def _optional_int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text else None
