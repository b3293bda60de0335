"""Site failure with few moves: other jobs move only when that lets a displaced job stay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from router.model.topology import Topology, parse_topology
from router.results import PlacementEvent, RouteResult
from router.service import convert
from router.state.audit import audit
from router.state.engine import Engine
from router.state.site_changes import SiteChange
from router.state.sqlite import SqliteLedger
from tests.conftest import MINI


def with_lingang(ascend_count: int) -> Topology:
    """mini plus an eastern site with only Ascend devices (a place E-jobs can go)."""
    data: dict[str, Any] = yaml.safe_load(MINI.read_text())
    data["sites"].append(
        {
            "name": "lingang", "hub": "yangtze-delta", "provider": "ctyun",
            "lat": 30.9, "lon": 121.9, "pue": 1.3, "electricity_cny_per_kwh": 0.7,
            "carbon_g_per_kwh": 562,
            "pools": [
                {"accelerator": "Ascend910B", "count": ascend_count, "price_cny_per_hour": 12.0}
            ],
        }
    )  # fmt: skip
    data["links"].append(
        {"a": "shanghai", "b": "lingang", "latency_ms": 3, "bandwidth_gbps": 400,
         "price_cny_per_gb": 0.005}
    )  # fmt: skip
    return parse_topology(data)


def job(name: str, count: int, types: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name, "kind": "training", "origin": "shanghai", "max_latency_ms": 50,
        "accelerators": {"count": count, "types": types}, "hours": 2, **extra,
    }  # fmt: skip


def encode(result: RouteResult) -> bytes:
    return convert.serialize(convert.route_response(result))


def route(engine: Engine, spec: dict[str, Any]) -> tuple[str, str]:
    answer = convert.pb.RouteResponse.FromString(
        engine.route(engine.parse([spec])[0], spec, encode=encode)
    )
    assert answer.HasField("reservation"), answer
    return answer.reservation.reservation_id, answer.reservation.placement.site


def setup(tmp_path: Path, ascend: int) -> tuple[Engine, SqliteLedger, dict[str, str]]:
    ledger = SqliteLedger(tmp_path / "state.sqlite")
    engine = Engine(with_lingang(ascend), ledger)
    ids = {}
    for name, spec, site in (
        ("flexible", job("flexible", 12, ["A800", "Ascend910B"], allowed_zones=["east"]), "qingpu"),
        ("small", job("small", 2, ["A800"], allowed_zones=["east"]), "qingpu"),
        ("west", job("west", 10, ["A800"]), "zhongwei"),
    ):  # fmt: skip
        ids[name], where = route(engine, spec)
        assert where == site, (name, where)
    return engine, ledger, ids


def test_a_job_moves_out_only_to_let_a_displaced_job_stay(tmp_path: Path) -> None:
    engine, ledger, ids = setup(tmp_path, ascend=16)
    events: list[PlacementEvent] = []
    engine.subscribe(events.append)
    # qingpu A800 has 16 - 12 - 2 = 2 free: "west" (10) fits only if "flexible" moves
    # to lingang's Ascend pool; "small" (2) is not in the way and stays.
    result = engine.update_site(SiteChange("zhongwei", status="down"), time_limit_s=2)
    moved = {e.reservation.reservation_id: e for e in result.moved}
    assert result.evicted == []
    assert set(moved) == {ids["west"], ids["flexible"]}
    assert moved[ids["west"]].reservation.placement.site == "qingpu"
    assert moved[ids["flexible"]].reservation.placement.site == "lingang"
    assert moved[ids["flexible"]].reservation.placement.accelerator == "Ascend910B"
    assert moved[ids["flexible"]].reason == "site zhongwei down; made room for west"
    assert ledger.get(ids["small"]).site == "qingpu"
    assert sorted(e.type for e in events) == ["moved", "moved"]
    checked = audit(tmp_path / "state.sqlite")
    assert (checked.overbooked, checked.mismatched, checked.active) == ([], [], 3)


def test_no_job_moves_when_that_would_not_save_the_displaced_one(tmp_path: Path) -> None:
    engine, ledger, ids = setup(tmp_path, ascend=8)  # "flexible" (12) fits nowhere else
    result = engine.update_site(SiteChange("zhongwei", status="down"), time_limit_s=2)
    assert result.moved == []
    assert [e.reservation.reservation_id for e in result.evicted] == [ids["west"]]
    assert "capacity" in result.evicted[0].reason
    assert ledger.get(ids["flexible"]).site == "qingpu"
    assert ledger.get(ids["small"]).site == "qingpu"
    assert ledger.get(ids["west"]).state.value == "evicted"
