"""Properties of plans over many generated topologies and job sets.

Everything is recomputed here independently of the router's own network, filter
and cost code: shortest paths by a plain Dijkstra, feasibility from DESIGN.md
section 1 read literally, costs from the formulas, and (for small batches) the
optimum by exhaustive search.
"""

from __future__ import annotations

import heapq
import itertools
import math
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.model.jobs import Job, parse_jobs
from router.model.topology import Topology, parse_topology
from router.place.explain import explain_contention, explain_rejections, reason_counts
from router.place.filters import screen
from router.place.network import Network
from router.plan import make_context, plan_jobs

CATALOG = [
    {
        "name": "A800",
        "vendor": "nvidia",
        "stack": "cuda",
        "memory_gb": 80,
        "tdp_kw": 0.4,
        "training": True,
        "tflops": {"fp64": 9.7, "fp32": 19.5, "fp16": 312},
    },
    {
        "name": "H20",
        "vendor": "nvidia",
        "stack": "cuda",
        "memory_gb": 96,
        "tdp_kw": 0.4,
        "training": False,
        "tflops": {"fp64": 1, "fp32": 44, "fp16": 148},
    },
    {
        "name": "Ascend910B",
        "vendor": "huawei",
        "stack": "cann",
        "memory_gb": 64,
        "tdp_kw": 0.4,
        "training": True,
        "tflops": {"fp16": 300},
    },
    {
        "name": "HygonDCU",
        "vendor": "hygon",
        "stack": "dtk",
        "memory_gb": 32,
        "tdp_kw": 0.3,
        "training": True,
        "tflops": {"fp64": 10, "fp32": 12, "fp16": 24},
    },
]
HUBS = [
    {"name": "east-a", "title": "East A", "zone": "east"},
    {"name": "east-b", "title": "East B", "zone": "east"},
    {"name": "west-a", "title": "West A", "zone": "west"},
    {"name": "west-b", "title": "West B", "zone": "west"},
]
PROVIDERS = ["p1", "p2", "p3"]


@st.composite
def topologies(draw: st.DrawFn) -> dict[str, Any]:
    n_regions = draw(st.integers(1, 2))
    n_sites = draw(st.integers(1, 4))
    regions = [
        {
            "name": f"r{i}",
            "hub": draw(st.sampled_from(["east-a", "east-b"])),
            "lat": 30.0,
            "lon": 120.0,
        }
        for i in range(n_regions)
    ]
    sites = []
    for i in range(n_sites):
        pools = [
            {
                "accelerator": draw(st.sampled_from([a["name"] for a in CATALOG])),
                "count": draw(st.integers(0, 16)),
                "price_cny_per_hour": draw(st.sampled_from([2.0, 5.5, 8.0, 11.25])),
            }
            for _ in range(draw(st.integers(1, 3)))
        ]
        sites.append(
            {
                "name": f"s{i}",
                "hub": draw(st.sampled_from([h["name"] for h in HUBS])),
                "provider": draw(st.sampled_from(PROVIDERS)),
                "lat": 35.0,
                "lon": 105.0,
                "status": draw(st.sampled_from(["up"] * 5 + ["drain", "down"])),
                "pue": draw(st.sampled_from([1.1, 1.25])),
                "electricity_cny_per_kwh": 0.4,
                "carbon_g_per_kwh": draw(st.sampled_from([200, 600])),
                "pools": pools,
            }
        )
    places = [r["name"] for r in regions] + [s["name"] for s in sites]
    links = []
    # Each region gets one link to a site so it is connected; then random extra links.
    for r in regions:
        links.append((r["name"], draw(st.sampled_from([s["name"] for s in sites]))))
    for s in sites:  # most sites hang off some region
        if draw(st.integers(0, 3)) > 0:
            links.append((draw(st.sampled_from([r["name"] for r in regions])), s["name"]))
    pairs = [(a, b) for a, b in itertools.combinations(places, 2)]
    links += draw(st.lists(st.sampled_from(pairs), max_size=6))
    seen: set[frozenset[str]] = set()
    link_rows = []
    for a, b in links:
        if frozenset((a, b)) in seen:
            continue
        seen.add(frozenset((a, b)))
        link_rows.append(
            {
                "a": a,
                "b": b,
                "latency_ms": draw(st.sampled_from([1.0, 2.5, 6.0, 14.0, 22.0])),
                "bandwidth_gbps": draw(st.sampled_from([1.0, 10.0, 100.0])),
                "price_cny_per_gb": draw(st.sampled_from([0.0, 0.01, 0.05])),
                "status": draw(st.sampled_from(["up"] * 5 + ["down"])),
            }
        )
    return {
        "version": 1,
        "name": "gen",
        "accelerators": CATALOG,
        "hubs": HUBS,
        "regions": regions,
        "sites": sites,
        "links": link_rows,
    }


@st.composite
def job_sets(draw: st.DrawFn, topo: dict[str, Any], max_jobs: int) -> dict[str, Any]:
    jobs = []
    for i in range(draw(st.integers(1, max_jobs))):
        kind = draw(
            st.sampled_from(["training", "finetune", "inference", "batch", "hpc", "realtime"])
        )
        # Mostly CUDA-capable asks so that pools are contended, sometimes other stacks.
        acc: dict[str, Any] = {"count": draw(st.integers(1, 8))}
        if draw(st.booleans()):
            acc["types"] = draw(
                st.lists(
                    st.sampled_from(["A800", "A800", "H20", "Ascend910B", "HygonDCU"]),
                    min_size=1,
                    max_size=3,
                    unique=True,
                )
            )
            acc["hours_on"] = "A800"  # has every precision the jobs use
        else:
            acc["stacks"] = draw(
                st.lists(
                    st.sampled_from(["cuda", "cann", "dtk"]), min_size=1, max_size=2, unique=True
                )
            )
            acc["hours_on"] = "A800"
        if draw(st.integers(0, 3)) == 0:
            acc["min_memory_gb"] = draw(st.sampled_from([40, 70, 90]))
        job: dict[str, Any] = {
            "name": f"j{i}",
            "kind": kind,
            "origin": draw(st.sampled_from([r["name"] for r in topo["regions"]])),
            "max_latency_ms": draw(st.sampled_from([2.0, 15.0, 30.0, 100.0, 100.0])),
            "accelerators": acc,
            "hours": draw(st.sampled_from([0.5, 2.0, 10.0])),
            "priority": draw(st.integers(1, 3)),
        }
        if kind == "hpc" or draw(st.booleans()):
            job["precision"] = "fp64" if kind == "hpc" else draw(st.sampled_from(["fp16", "fp32"]))
        if kind == "hpc":
            acc.pop("stacks", None)
            acc["types"] = ["A800", "HygonDCU"]
            acc.pop("hours_on", None)
        if draw(st.booleans()):
            job["data_gb"] = draw(st.sampled_from([10.0, 1000.0, 50000.0]))
            if draw(st.booleans()):
                job["deadline_hours"] = draw(st.sampled_from([3.0, 12.0, 48.0]))
        if draw(st.integers(0, 4)) == 0:
            job["allowed_zones"] = [draw(st.sampled_from(["east", "west"]))]
        if draw(st.integers(0, 4)) == 0:
            present = sorted({s["provider"] for s in topo["sites"]})
            job["denied_providers"] = [draw(st.sampled_from(present))]
        elif draw(st.integers(0, 4)) == 0:
            present = sorted({s["provider"] for s in topo["sites"]})
            job["allowed_providers"] = [draw(st.sampled_from(present))]
        jobs.append(job)
    return {"jobs": jobs}


@st.composite
def scenarios(draw: st.DrawFn, max_jobs: int = 8) -> tuple[dict[str, Any], dict[str, Any]]:
    topo = draw(topologies())
    return topo, draw(job_sets(topo, max_jobs))


# ---- independent recomputation -------------------------------------------------------


def shortest_latency(topo: dict[str, Any], origin: str) -> dict[str, float]:
    adjacency: dict[str, list[tuple[str, float]]] = {}
    for link in topo["links"]:
        if link.get("status", "up") != "up":
            continue
        adjacency.setdefault(link["a"], []).append((link["b"], link["latency_ms"]))
        adjacency.setdefault(link["b"], []).append((link["a"], link["latency_ms"]))
    dist = {origin: 0.0}
    heap = [(0.0, origin)]
    while heap:
        d, node = heapq.heappop(heap)
        if d > dist.get(node, math.inf):
            continue
        for nxt, w in adjacency.get(node, []):
            if d + w < dist.get(nxt, math.inf):
                dist[nxt] = d + w
                heapq.heappush(heap, (d + w, nxt))
    return dist


def link_between(topo: dict[str, Any], a: str, b: str) -> dict[str, Any]:
    for link in topo["links"]:
        if {link["a"], link["b"]} == {a, b} and link.get("status", "up") == "up":
            return dict(link)
    raise AssertionError(f"no up link between {a} and {b}")


def sizing(job: Job, topo: dict[str, Any], accelerator: str) -> tuple[int, float] | None:
    """(devices, run hours) on a part, in exact rational arithmetic on the decimal figures:
    work jobs keep their count and scale hours, service jobs keep hours and scale devices."""
    catalog = {a["name"]: a for a in topo["accelerators"]}
    tflops = catalog[accelerator]["tflops"].get(job.precision)
    if tflops is None:
        return None
    ref = catalog[job.hours_on]
    speed = Fraction(str(tflops)) / Fraction(str(ref["tflops"][job.precision]))
    if job.kind not in ("inference", "realtime"):
        return job.count, job.hours / float(speed)
    by_memory = (
        job.count
        * Fraction(str(ref["memory_gb"]))
        / Fraction(str(catalog[accelerator]["memory_gb"]))
    )
    return max(math.ceil(job.count / speed), math.ceil(by_memory)), job.hours


def feasible_options(job: Job, topo: dict[str, Any]) -> list[tuple[str, int, float]]:
    """(site, pool index, latency) for every candidate DESIGN.md calls feasible, the
    deadline aside (it depends on the path taken; checked on the reported path)."""
    catalog = {a["name"]: a for a in topo["accelerators"]}
    zones = {h["name"]: h["zone"] for h in topo["hubs"]}
    dist = shortest_latency(topo, job.origin)
    out = []
    for site in topo["sites"]:
        name = site["name"]
        if site.get("status", "up") != "up" or name not in dist:
            continue
        if dist[name] > job.max_latency_ms:
            continue
        if job.allowed_zones and zones[site["hub"]] not in job.allowed_zones:
            continue
        if job.allowed_hubs and site["hub"] not in job.allowed_hubs:
            continue
        if site["provider"] in job.denied_providers:
            continue
        if job.allowed_providers and site["provider"] not in job.allowed_providers:
            continue
        for index, pool in enumerate(site["pools"]):
            device = catalog[pool["accelerator"]]
            if not (device["name"] in job.types or device["stack"] in job.stacks):
                continue
            if device["memory_gb"] < job.min_memory_gb:
                continue
            if not device["training"] and job.kind not in ("inference", "batch"):
                continue
            size = sizing(job, topo, device["name"])
            if size is None or pool["count"] < size[0]:
                continue
            out.append((name, index, dist[name]))
    return out


def recompute_cost(
    job: Job, topo: dict[str, Any], site_name: str, index: int, path: tuple[str, ...]
) -> tuple[float, float]:
    """(cost_cny, transfer_hours) along the reported path, from the formulas."""
    site = next(s for s in topo["sites"] if s["name"] == site_name)
    pool = site["pools"][index]
    size = sizing(job, topo, pool["accelerator"])
    assert size is not None
    devices, hours = size
    links = [link_between(topo, a, b) for a, b in itertools.pairwise(path)]
    compute = devices * hours * pool["price_cny_per_hour"]
    transfer = job.data_gb * sum(ln["price_cny_per_gb"] for ln in links)
    bottleneck = min(ln["bandwidth_gbps"] for ln in links)
    transfer_hours = job.data_gb * 8 / bottleneck / 3600
    return compute + transfer, transfer_hours + hours


def check_plan(topo: dict[str, Any], jobs: list[Job], plan: Any) -> None:
    by_name = {j.name: j for j in jobs}
    used: dict[tuple[str, int], int] = {}
    for p in plan.placements:
        job = by_name[p.job]
        options = {(s, i) for s, i, _ in feasible_options(job, topo)}
        assert (p.site, p.pool_index) in options, f"{p.job} placed on an infeasible candidate"
        size = sizing(job, topo, p.accelerator)
        assert size is not None and p.count == size[0], "devices on that part"
        assert math.isclose(p.run_hours, size[1], rel_tol=1e-12)
        dist = shortest_latency(topo, job.origin)
        assert math.isclose(p.latency_ms, dist[p.site]), "not the minimum-latency path"
        assert p.path[0] == job.origin and p.path[-1] == p.site
        path_latency = sum(
            link_between(topo, a, b)["latency_ms"] for a, b in itertools.pairwise(p.path)
        )
        assert math.isclose(path_latency, p.latency_ms)
        cost, total_hours = recompute_cost(job, topo, p.site, p.pool_index, p.path)
        assert math.isclose(p.cost_cny, cost, rel_tol=1e-9, abs_tol=1e-9)
        if job.deadline_hours is not None:
            assert total_hours <= job.deadline_hours + 1e-9
        used[(p.site, p.pool_index)] = used.get((p.site, p.pool_index), 0) + p.count
    for site in topo["sites"]:
        for index, pool in enumerate(site["pools"]):
            assert used.get((site["name"], index), 0) <= pool["count"], "pool over-used"
    assert {p.job for p in plan.placements}.isdisjoint({u.job for u in plan.unplaced})
    assert len(plan.placements) + len(plan.unplaced) == len(jobs)
    assert plan.lower_bound_cny <= plan.total_cost_cny + 1e-3 * max(1, len(jobs))


def build(topo_data: dict[str, Any], jobs_data: dict[str, Any]) -> tuple[Topology, list[Job]]:
    topology = parse_topology(topo_data)
    return topology, parse_jobs(jobs_data, topology)


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(scenarios())
def test_every_placement_is_feasible_and_priced_by_the_formulas(
    case: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    topo_data, jobs_data = case
    topology, jobs = build(topo_data, jobs_data)
    plan = plan_jobs(topology, jobs, time_limit_s=5)
    check_plan(topo_data, jobs, plan)


@SETTINGS
@given(scenarios(max_jobs=5))
def test_small_plans_are_optimal_by_exhaustive_search(
    case: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    topo_data, jobs_data = case
    topology, jobs = build(topo_data, jobs_data)
    plan = plan_jobs(topology, jobs, time_limit_s=5)
    assert plan.solver_status == "optimal"
    capacity: dict[Any, int] = {
        (s["name"], i): p["count"] for s in topo_data["sites"] for i, p in enumerate(s["pools"])
    }
    for link in topo_data["links"]:  # Mbps a deadline job's transfer may hold on a link
        capacity[frozenset((link["a"], link["b"]))] = math.floor(link["bandwidth_gbps"] * 1000)
    # Options carry their own uses: service jobs need more or fewer devices by part, and
    # deadline jobs hold bandwidth on every link of the path while their data moves.
    choices: list[list[tuple[float, dict[Any, int]] | None]] = []
    network = Network(topology)
    for job in jobs:
        opts: list[tuple[float, dict[Any, int]] | None] = [None]
        for site, index, _ in feasible_options(job, topo_data):
            # Equal-latency paths may differ in price: price the router's path, whose
            # latency check_plan compares with our own Dijkstra.
            path = network.path(job.origin, site)
            assert path is not None
            cost, total_hours = recompute_cost(job, topo_data, site, index, path.places)
            if job.deadline_hours is not None and total_hours > job.deadline_hours:
                continue
            pool = next(s for s in topo_data["sites"] if s["name"] == site)["pools"][index]
            size = sizing(job, topo_data, pool["accelerator"])
            assert size is not None
            uses: dict[Any, int] = {(site, index): size[0]}
            if job.deadline_hours is not None and job.data_gb > 0:
                window_s = (job.deadline_hours - size[1]) * 3600
                rate = math.ceil(job.data_gb * 8 * 1000 / window_s)
                for a, b in itertools.pairwise(path.places):
                    uses[frozenset((a, b))] = rate
            opts.append((cost, uses))
        choices.append(opts)
    best: tuple[float, float] = (-1.0, 0.0)
    for combo in itertools.product(*choices):
        use: dict[Any, int] = {}
        work = 0.0
        cost = 0.0
        for job, pick in zip(jobs, combo, strict=True):
            if pick is None:
                continue
            for resource, amount in pick[1].items():
                use[resource] = use.get(resource, 0) + amount
            work += job.priority * job.count * job.hours
            cost += pick[0]
        if any(use[k] > capacity[k] for k in use):
            continue
        if work > best[0] + 1e-9 or (abs(work - best[0]) <= 1e-9 and cost < best[1]):
            best = (work, cost)
    placed_work = sum(
        j.priority * j.count * j.hours for j in jobs if j.name in {p.job for p in plan.placements}
    )
    assert math.isclose(placed_work, best[0], abs_tol=1e-6)
    assert math.isclose(plan.total_cost_cny, best[1], abs_tol=1e-3 * len(jobs))


@SETTINGS
@given(scenarios())
def test_plan_places_at_least_the_baseline_work_and_baseline_stays_home(
    case: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    topo_data, jobs_data = case
    topology, jobs = build(topo_data, jobs_data)
    plan = plan_jobs(topology, jobs, time_limit_s=5)
    work = {j.name: j.priority * j.count * j.hours for j in jobs}
    baseline_work = sum(work[p.job] for p in plan.baseline)
    plan_work = sum(work[p.job] for p in plan.placements)
    assert plan_work >= baseline_work - 1e-9
    for p in plan.baseline:
        job = next(j for j in jobs if j.name == p.job)
        home = topology.regions[job.origin].hub
        assert p.hub == home, "baseline must stay in the origin's hub"
    check_plan(topo_data, jobs, plan)


@SETTINGS
@given(scenarios())
def test_unplaced_jobs_are_explained_as_screening_every_site_would(
    case: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    # The plan screens only the sites none of a left-out job's options are at; the
    # explanation must be the one screening every site from scratch gives.
    topology, jobs = build(*case)
    plan = plan_jobs(topology, jobs, time_limit_s=5)
    ctx = make_context(topology)
    by_name = {j.name: j for j in jobs}
    for unplaced in plan.unplaced:
        job = by_name[unplaced.job]
        screening = screen(job, ctx)
        fitting = len({c.site.name for c in screening.candidates})
        n_sites = len(topology.sites)
        if fitting:
            reason = explain_contention(job, fitting, n_sites)
            counts = {"contention": fitting, **reason_counts(screening.rejections)}
        else:
            reason = explain_rejections(job, screening.rejections, n_sites)
            counts = reason_counts(screening.rejections)
        assert (unplaced.reason, unplaced.reasons) == (reason, counts)
