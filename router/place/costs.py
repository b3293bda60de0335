"""The cost terms of a candidate (DESIGN.md section 1), and their integer forms for the solver."""

from __future__ import annotations

from dataclasses import dataclass

from router.model.jobs import Job
from router.model.topology import Accelerator, Pool, Site
from router.place.network import Path

MILLI = 1000  # the solver counts money in milli-CNY
WORK_SCALE = 100  # and work in hundredths of priority-weighted device-hours


@dataclass(frozen=True, slots=True)
class Cost:
    """What running a job on one candidate takes and costs."""

    run_hours: float
    transfer_hours: float
    compute_cny: float
    transfer_cny: float
    energy_kwh: float
    carbon_kg: float
    carbon_cny: float

    @property
    def cost_cny(self) -> float:
        """compute + transfer + priced carbon."""
        return self.compute_cny + self.transfer_cny + self.carbon_cny


def run_hours(job: Job, reference: Accelerator, device: Accelerator) -> float | None:
    """Hours the job runs on `device`, scaled by throughput; None if it lacks the precision."""
    speed = device.tflops.get(job.precision)
    if speed is None:
        return None
    return job.hours * reference.tflops[job.precision] / speed


def transfer_hours(job: Job, path: Path) -> float:
    """Hours to move the job's data over the path's bottleneck link."""
    if job.data_gb == 0:
        return 0.0
    return job.data_gb * 8 / path.bottleneck_gbps / 3600


def candidate_cost(
    job: Job,
    site: Site,
    pool: Pool,
    device: Accelerator,
    hours: float,
    path: Path,
    carbon_price_cny_per_kg: float,
) -> Cost:
    """The named cost terms of running `job` for `hours` on `pool` at `site` over `path`."""
    energy_kwh = job.count * hours * device.tdp_kw * site.pue
    carbon_kg = energy_kwh * site.carbon_g_per_kwh / 1000
    return Cost(
        run_hours=hours,
        transfer_hours=transfer_hours(job, path),
        compute_cny=job.count * hours * pool.price_cny_per_hour,
        transfer_cny=job.data_gb * path.transfer_cny_per_gb,
        energy_kwh=energy_kwh,
        carbon_kg=carbon_kg,
        carbon_cny=carbon_kg * carbon_price_cny_per_kg,
    )


def work_units(job: Job) -> int:
    """A job's priority-weighted work at the solver boundary (at least 1)."""
    return max(1, round(job.work * WORK_SCALE))
