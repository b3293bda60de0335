"""The sizing and cost terms of a candidate (DESIGN.md section 1), and their integer forms.

Every conversion between chips goes through `speed` (TFLOPS at the job's precision against
the reference type) and `memory_gb`: work jobs keep their devices and scale hours, service
jobs keep their hours and scale devices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from router.model.jobs import Job
from router.model.topology import Accelerator, Pool, Site
from router.place.network import Path

MILLI = 1000  # the solver counts money in milli-CNY
WORK_SCALE = 100  # and work in hundredths of priority-weighted device-hours
# Relative slack for ceil: 8 / (x / x) is 8 in exact arithmetic but may land a hair above
# in floats; TFLOPS and memory figures have far fewer significant digits than this.
CEIL_SLACK = 1e-9


@dataclass(frozen=True, slots=True)
class Sizing:
    """How many devices of a part a job takes there, and for how long."""

    devices: int
    run_hours: float


@dataclass(frozen=True, slots=True)
class Cost:
    """What running a job on one candidate takes and costs."""

    devices: int
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


def ceil_whole(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Elementwise ceil, forgiving float noise just above a whole number."""
    return np.ceil(x - CEIL_SLACK * np.maximum(1.0, np.abs(x)))


def sizing(job: Job, reference: Accelerator, device: Accelerator) -> Sizing | None:
    """Devices and run hours of `job` on `device`; None if it lacks the job's precision."""
    tflops = device.tflops.get(job.precision)
    if tflops is None:
        return None
    # count / speed and hours / speed, with speed = tflops / reference tflops.
    slowdown = reference.tflops[job.precision] / tflops
    if not job.is_service:
        return Sizing(job.count, job.hours * slowdown)
    # Enough devices for the throughput and for the model's memory.
    needs = np.array([job.count * slowdown, job.count * reference.memory_gb / device.memory_gb])
    return Sizing(int(ceil_whole(needs).max()), job.hours)


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
    size: Sizing,
    path: Path,
    carbon_price_cny_per_kg: float,
) -> Cost:
    """The named cost terms of running `job` as `size` on `pool` at `site` over `path`."""
    device_hours = size.devices * size.run_hours
    energy_kwh = device_hours * device.tdp_kw * site.pue
    carbon_kg = energy_kwh * site.carbon_g_per_kwh / 1000
    return Cost(
        devices=size.devices,
        run_hours=size.run_hours,
        transfer_hours=transfer_hours(job, path),
        compute_cny=device_hours * pool.price_cny_per_hour,
        transfer_cny=job.data_gb * path.transfer_cny_per_gb,
        energy_kwh=energy_kwh,
        carbon_kg=carbon_kg,
        carbon_cny=carbon_kg * carbon_price_cny_per_kg,
    )


def effective_price(price_cny_per_hour: float, device: Accelerator, precision: str) -> float | None:
    """CNY per effective PFLOP-hour at `precision`: the one number that compares offers
    across chips (None if the part has no figure for that precision)."""
    tflops = device.tflops.get(precision)
    if not tflops:
        return None
    return price_cny_per_hour / tflops * 1000


def work_units(job: Job) -> int:
    """A job's priority-weighted work at the solver boundary (at least 1)."""
    return max(1, round(job.work * WORK_SCALE))
