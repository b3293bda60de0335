"""Run the GAP benchmark over files and print a table (usage: run_gap.py SECONDS FILE...)."""

from __future__ import annotations

import sys
from pathlib import Path

from router.bench.gap import format_gap_table, run_gap

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared/benchmarks/gap/reference.csv"


def main() -> None:
    seconds = float(sys.argv[1])
    markdown = "--markdown" in sys.argv
    files = [a for a in sys.argv[2:] if a != "--markdown"]
    ref = REFERENCE if REFERENCE.exists() else None
    print(format_gap_table(run_gap(files, seconds, ref), markdown=markdown))


if __name__ == "__main__":
    main()
