"""`westward reservations` and `westward site update` against a real gRPC server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from router.cli import main
from router.client import RouterClient
from router.model.topology import Topology
from router.service.background import BackgroundServer
from router.state.sqlite import SqliteLedger
from tests.tools import REPO_ROOT


def job(name: str, count: int, origin: str = "shanghai") -> dict[str, Any]:
    return {
        "name": name,
        "kind": "training",
        "origin": origin,
        "max_latency_ms": 50,
        "accelerators": {"count": count, "types": ["A800"]},
        "hours": 2,
    }


@pytest.fixture
def address(mini: Topology, tmp_path: Path) -> Iterator[str]:
    ledger = SqliteLedger(tmp_path / "state.sqlite")
    with BackgroundServer(topology=mini, ledger=ledger, default_time_limit_s=2.0) as bg:
        yield f"127.0.0.1:{bg.port}"
    ledger.close()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_reservations_and_the_devices_they_hold(
    address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with RouterClient(address) as client:
        first = client.route(job("first", 6)).reservation
        second = client.route(job("second", 2)).reservation
    assert first is not None and second is not None

    code, out, _ = run(capsys, "reservations", "list", "--server", address)
    assert code == 0
    assert first.reservation_id in out and second.reservation_id in out
    assert "2 active reservations hold 8 devices." in out

    code, out, _ = run(capsys, "reservations", "list", "--server", address, "--json")
    listed = json.loads(out)
    assert [r["reservation_id"] for r in listed] == [first.reservation_id, second.reservation_id]
    assert [r["placement"]["count"] for r in listed] == [6, 2]
    assert listed[0]["job"]["name"] == "first" and listed[0]["state"] == "active"

    site = first.placement.site
    other = "qingpu" if first.placement.site == "zhongwei" else "zhongwei"
    code, out, _ = run(capsys, "reservations", "list", "--server", address, "--site", other)
    assert (code, out.strip()) == (0, "No reservations.")
    code, out, err = run(capsys, "reservations", "list", "--server", address, "--site", "zhongwie")
    assert (code, err) == (2, "error: --site: unknown site 'zhongwie'; did you mean 'zhongwei'?\n")
    code, out, _ = run(capsys, "reservations", "list", "--server", address, "--site", site)
    assert first.reservation_id in out


def test_release_frees_the_devices_and_names_a_missing_id(
    address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with RouterClient(address) as client:
        held = client.route(job("held", 4)).reservation
    assert held is not None
    p = held.placement

    code, out, _ = run(capsys, "reservations", "release", held.reservation_id, "--server", address)
    assert code == 0
    assert out.strip() == (
        f"released {held.reservation_id}: held frees 4 {p.accelerator} at {p.site} "
        f"(pool {p.pool_index})"
    )
    code, out, _ = run(capsys, "reservations", "list", "--server", address, "--json")
    assert json.loads(out) == []
    code, out, _ = run(
        capsys, "reservations", "list", "--server", address, "--include-ended", "--json"
    )
    assert [r["state"] for r in json.loads(out)] == ["released"]

    code, out, err = run(capsys, "reservations", "release", "no-such-id", "--server", address)
    assert code == 1 and out == ""
    assert err.startswith("error: ") and "no-such-id" in err


def test_site_down_moves_its_jobs_and_prices_scale(
    address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with RouterClient(address) as client:
        held = client.route(job("mover", 4)).reservation
        before = client.get_topology().topology.sites
    assert held is not None
    site = held.placement.site

    code, out, _ = run(
        capsys, "site", "update", site, "--status", "down", "--server", address, "--json"
    )
    assert code == 0
    update = json.loads(out)
    assert update["site"] == site and update["status"] == "down"
    moved = update["moved"] + update["evicted"]
    assert [m["reservation_id"] for m in moved] == [held.reservation_id]
    assert moved[0]["from"] == site

    other = next(name for name in before if name != site)
    price = before[other].pools[0].price_cny_per_hour
    count = before[other].pools[0].count
    code, out, _ = run(
        capsys, "site", "update", other, "--price-factor", "1.5", "--pool", f"0={count + 8}",
        "--server", address,
    )  # fmt: skip
    assert code == 0
    assert f"Site {other} is up." in out
    assert "0 jobs moved, 0 jobs evicted." in out
    with RouterClient(address) as client:
        pool = client.get_topology().topology.sites[other].pools[0]
    assert pool.count == count + 8
    assert pool.price_cny_per_hour == pytest.approx(price * 1.5)


def test_site_update_mistakes_exit_2_naming_the_field(
    address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "site", "update", "zhongwei", "--server", address)
    assert code == 2 and "nothing to change" in err

    code, _, err = run(capsys, "site", "update", "zhongwei", "--pool", "99=4", "--server", address)
    assert (code, err) == (2, "error: --pool 99: site zhongwei has pools 0..1, got 99\n")

    down = ("--status", "down", "--server", address)
    code, _, err = run(capsys, "site", "update", "atlantis", *down)
    assert code == 1 and "atlantis" in err

    code, _, err = run(capsys, "site", "update", "zhongwei", "--price-factor", "1e9", *down[2:])
    assert code == 2
    assert err.startswith("error: --price-factor: pool 0's price must be a number > 0 and <=")

    for bad in ("zero=4", "0=99999999999"):
        with pytest.raises(SystemExit) as exited:
            main(["site", "update", "zhongwei", "--pool", bad, "--server", address])
        assert exited.value.code == 2
        assert "must be INDEX=COUNT, whole numbers 0-" in capsys.readouterr().err


def test_unreachable_server_is_one_line_exit_1_without_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "router.cli", "reservations", "list", "--server", "127.0.0.1:9"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("error: --server 127.0.0.1:9: failed to connect")
    assert "Traceback" not in done.stderr


def test_plan_on_a_server_says_what_reservations_hold(
    address: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with RouterClient(address) as client:
        client.route(job("existing", 6))
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(json.dumps({"jobs": [job("new", 2)]}))

    code, out, _ = run(capsys, "plan", "--jobs", str(jobs), "--server", address)
    assert code == 0
    assert "Server reservations hold 6 devices; this plan used only the devices" in out
    code, out, _ = run(capsys, "plan", "--jobs", str(jobs), "--server", address, "--json")
    assert json.loads(out)["held_devices"] == 6
