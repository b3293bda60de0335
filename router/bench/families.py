"""Workload families for `westward bench synthetic` (data only: cheap to import)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Family:
    """A workload family: how jobs are drawn and how much capacity the network has."""

    name: str
    help: str
    capacity_share: float  # devices installed / devices asked
    kind_weights: dict[str, float] = field(default_factory=dict)  # overrides _MIX shares
    counts: tuple[int, ...] = ()  # overrides every kind's device counts
    priorities: tuple[int, ...] = (1, 1, 1, 2, 3)
    deadline_share: float = 0.3  # of work jobs
    data_gb: tuple[float, ...] = (100, 1000, 5000, 20000)
    bandwidth_factor: float = 1.0  # scales every link's bandwidth


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("tight", "capacity 90% of demand", 0.9),
        Family("scarce", "capacity 60% of demand", 0.6),
        Family("ample", "capacity 150% of demand", 1.5),
        Family(
            "priority-heavy",
            "capacity 80%; 40% of jobs at priority 10 or 100",
            0.8,
            priorities=(1, 1, 1, 2, 3, 1, 10, 10, 100, 10),
        ),
        Family(
            "deadline-heavy",
            "work jobs with deadlines and big data; thin links bind",
            1.0,
            kind_weights={"training": 0.35, "finetune": 0.25, "batch": 0.25, "hpc": 0.15},
            deadline_share=0.9,
            data_gb=(5000, 20000, 50000),
            bandwidth_factor=0.02,
        ),
        Family(
            "service-heavy",
            "mostly inference and realtime serving; capacity 90%",
            0.9,
            kind_weights={"inference": 0.5, "realtime": 0.35, "finetune": 0.15},
        ),
        Family(
            "few-huge-gangs",
            "gangs of 128 to 1024 devices; capacity 90%",
            0.9,
            counts=(128, 256, 512, 1024),
        ),
        Family("many-tiny-jobs", "1 or 2 devices each; capacity 90%", 0.9, counts=(1, 1, 2)),
    )
}
