"""UpdateSite is atomic: the new site state, its moves and its evictions commit together,
or nothing changes; a reservation whose stored job no longer validates cannot block it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from router.errors import ServiceUnavailableError
from router.model.topology import Topology
from router.results import RouteResult
from router.service import convert
from router.state.engine import Engine
from router.state.ledger import HeldReservation, Move, SiteState
from router.state.site_changes import SiteChange
from router.state.sqlite import SqliteLedger


def spec(name: str, count: int = 4, **extra: Any) -> dict[str, Any]:
    return {
        "name": name, "kind": "training", "origin": "shanghai", "max_latency_ms": 50,
        "accelerators": {"count": count, "types": ["A800"]}, "hours": 2, **extra,
    }  # fmt: skip


def route(engine: Engine, entry: dict[str, Any]) -> str:
    def encode(result: RouteResult) -> bytes:
        return convert.serialize(convert.route_response(result))

    answer = convert.pb.RouteResponse.FromString(
        engine.route(engine.parse([entry])[0], entry, encode=encode)
    )
    return answer.reservation.placement.site


class FailingLedger(SqliteLedger):
    """The disk fills up exactly when a site change is committed."""

    def relocate(
        self, moves: Sequence[Move], evictions: Sequence[str], site_state: SiteState | None = None
    ) -> list[HeldReservation]:
        raise ServiceUnavailableError("the ledger could not write (disk full); nothing changed")


def test_a_failed_commit_changes_nothing(mini: Topology, tmp_path: Path) -> None:
    ledger = FailingLedger(tmp_path / "state.sqlite")
    engine = Engine(mini, ledger)
    site = route(engine, spec("a"))
    before = (engine.topology, ledger.capacity(), ledger.site_changes(), ledger.reservations())
    with pytest.raises(ServiceUnavailableError):
        engine.update_site(SiteChange(site, status="down"), time_limit_s=2)
    after = (engine.topology, ledger.capacity(), ledger.site_changes(), ledger.reservations())
    assert after == before
    assert engine.topology.sites[site].status == "up"


def test_a_reservation_whose_job_no_longer_validates_is_evicted_not_stranded(
    mini: Topology, tmp_path: Path
) -> None:
    ledger = SqliteLedger(tmp_path / "state.sqlite")
    engine = Engine(mini, ledger)
    site = route(engine, spec("good"))
    # A record written before NaN was refused (the ledger itself keeps whatever it is given).
    details = {**ledger.reservations()[0].details, "job": "bad", "count": 2}
    nan_job = spec("bad", hours=math.nan)
    ledger.reserve([HeldReservation("bad", "bad", site, 0, 2, spec=nan_job, details=details)])
    result = engine.update_site(SiteChange(site, status="down"), time_limit_s=2)
    evicted = {e.reservation.reservation_id: e.reason for e in result.evicted}
    assert "no longer validates" in evicted["bad"]
    assert ledger.reservations(site=site) == []
    assert ledger.site_changes()[site]["status"] == "down"
