"""The shipped china-edwc topology and example jobs: complete, consistent with the facts'
policy figures, and producing the trade-offs the examples describe."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from router.model.jobs import Job, load_jobs
from router.model.topology import Topology, default_topology
from router.place.network import Network
from router.plan import route_job
from router.results import Placement, Unplaced

ROOT = Path(__file__).resolve().parents[1]
BUILDER = ROOT / "topology" / "tools" / "build_china_edwc.py"
EXAMPLES = sorted((ROOT / "examples" / "jobs").glob("*.yaml"))
CLUSTERS = {
    "zhangjiakou": "jingjinji",
    "yrd-demo-zone": "yangtze-delta",
    "wuhu": "yangtze-delta",
    "shaoguan": "greater-bay",
    "tianfu": "chengyu",
    "chongqing": "chengyu",
    "horinger": "inner-mongolia",
    "guian": "guizhou",
    "qingyang": "gansu",
    "zhongwei": "ningxia",
}


@pytest.fixture(scope="module")
def topo() -> Topology:
    return default_topology()


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_china_edwc", BUILDER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def _job(file: str, name: str, topo: Topology) -> Job:
    jobs = load_jobs(ROOT / "examples" / "jobs" / file, topo)
    return next(job for job in jobs if job.name == name)


def test_committed_yaml_is_the_builder_output() -> None:
    committed = (ROOT / "topology" / "china-edwc.yaml").read_text(encoding="utf-8")
    assert committed == _builder().render()


def test_hubs_clusters_and_catalog_follow_the_facts(topo: Topology) -> None:
    zones = {h.name: h.zone for h in topo.hubs.values()}
    assert zones == {
        "jingjinji": "east",
        "yangtze-delta": "east",
        "greater-bay": "east",
        "chengyu": "east",
        "inner-mongolia": "west",
        "guizhou": "west",
        "gansu": "west",
        "ningxia": "west",
    }
    assert {name: topo.sites[name].hub for name in CLUSTERS} == CLUSTERS
    assert len(topo.accelerators) == 11
    assert {r for r in topo.regions} == {
        "beijing",
        "shanghai",
        "hangzhou",
        "guangzhou",
        "shenzhen",
        "chengdu",
    }


def test_every_region_links_directly_to_every_site(topo: Topology) -> None:
    pairs = {frozenset((link.a, link.b)) for link in topo.links}
    missing = [(r, s) for r in topo.regions for s in topo.sites if frozenset((r, s)) not in pairs]
    assert missing == []


def test_latencies_respect_the_policy_circles(topo: Topology) -> None:
    network = Network(topo)
    for region in topo.regions.values():
        paths = network.paths_from(region.name)
        for site in topo.sites.values():
            latency = paths[site.name].latency_ms
            if site.hub == region.hub:
                assert latency <= 5, (region.name, site.name)  # regional circle
            assert latency <= 20, (region.name, site.name)  # cross-hub circle


def test_pue_targets_and_west_discount(topo: Topology) -> None:
    prices: dict[str, dict[str, list[float]]] = {}
    for site in topo.sites.values():
        zone = topo.hubs[site.hub].zone
        assert site.pue <= (1.25 if zone == "east" else 1.2), site.name
        for pool in site.pools:
            prices.setdefault(pool.accelerator, {"east": [], "west": []})[zone].append(
                pool.price_cny_per_hour
            )
    both = {a: p for a, p in prices.items() if p["east"] and p["west"]}
    assert len(both) >= 6
    for accelerator, p in both.items():
        smallest_saving = 1 - max(p["west"]) / min(p["east"])
        largest_saving = 1 - min(p["west"]) / max(p["east"])
        assert 0.15 <= smallest_saving <= largest_saving <= 0.35, accelerator


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_job_files_load_against_the_default(path: Path, topo: Topology) -> None:
    assert len(load_jobs(path, topo)) >= 8


def test_two_ms_from_shenzhen_fits_nowhere_for_latency(topo: Topology) -> None:
    result = route_job(topo, _job("east-west-mix.yaml", "hft-colo-shenzhen", topo))
    assert isinstance(result, Unplaced)
    assert result.reasons.get("latency", 0) > 0


def test_heavy_data_with_a_deadline_stays_in_its_hub(topo: Topology) -> None:
    job = _job("east-west-mix.yaml", "ad-ctr-retrain", topo)
    result = route_job(topo, job)
    assert isinstance(result, Placement) and result.hub == "jingjinji"
    # Without the deadline, the cheaper west wins: the deadline is what binds.
    free = route_job(topo, dataclasses.replace(job, deadline_hours=None))
    assert isinstance(free, Placement) and free.zone == "west"


def test_big_training_runs_only_in_the_west(topo: Topology) -> None:
    job = _job("east-west-mix.yaml", "pretrain-70b", topo)
    east_only = route_job(topo, dataclasses.replace(job, allowed_zones=("east",)))
    assert isinstance(east_only, Unplaced)
    assert isinstance(route_job(topo, job), Placement)


def test_residency_keeps_realtime_east_when_the_west_is_close_enough(topo: Topology) -> None:
    job = _job("realtime-east.yaml", "payments-fraud-gz", topo)
    kept = route_job(topo, job)
    assert isinstance(kept, Placement) and kept.zone == "east"
    moved = route_job(topo, dataclasses.replace(job, allowed_zones=()))
    assert isinstance(moved, Placement) and moved.zone == "west"
