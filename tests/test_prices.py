"""The price index: effective prices by the formula and the east-west spread."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from router.cli.main import main
from router.model.topology import default_topology
from router.report.prices import PriceIndex, price_index


def test_effective_price_is_price_over_tflops_times_1000() -> None:
    index = price_index(default_topology())
    zhongwei_h800 = next(p for p in index.pools if (p.site, p.accelerator) == ("zhongwei", "H800"))
    assert zhongwei_h800.cny_per_pflop_hour == pytest.approx(10.45 / 989 * 1000)
    prices = [p.cny_per_pflop_hour for p in index.pools]
    assert prices == sorted(prices, key=lambda x: (x is None, x or 0.0))  # cheapest first


def test_spread_compares_eastern_and_western_medians() -> None:
    index = price_index(default_topology())
    a800 = next(s for s in index.spreads if s.accelerator == "A800")
    east = statistics.median(_prices(index, "A800", "east"))
    west = statistics.median(_prices(index, "A800", "west"))
    assert a800.east_cny_per_pflop_hour == pytest.approx(east)
    assert a800.west_cny_per_pflop_hour == pytest.approx(west)
    assert a800.west_discount_pct == pytest.approx(100 * (east - west) / east)
    overall = index.spreads[-1]
    assert overall.accelerator == "all"
    assert overall.west_discount_pct is not None and overall.west_discount_pct > 0
    h100 = next(s for s in index.spreads if s.accelerator == "H100")  # only in the east
    assert h100.west_cny_per_pflop_hour is None and h100.west_discount_pct is None


def _prices(index: PriceIndex, accelerator: str, zone: str) -> list[float]:
    return [
        p.cny_per_pflop_hour
        for p in index.pools
        if (p.accelerator, p.zone) == (accelerator, zone) and p.cny_per_pflop_hour is not None
    ]


def test_parts_without_the_precision_have_no_effective_price() -> None:
    index = price_index(default_topology(), "fp64")
    ascend = [p for p in index.pools if p.accelerator == "Ascend910B"]
    assert ascend and all(p.cny_per_pflop_hour is None for p in ascend)
    assert index.pools[-1].cny_per_pflop_hour is None  # unknown prices sort last


def test_topology_prices_prints_the_index_and_the_spread(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plot = tmp_path / "prices.png"
    assert main(["topology", "prices", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "CNY/PFLOP-H fp16" in out and "East-west spread" in out
    overall = next(line for line in out.splitlines() if line.startswith("all "))
    assert overall.rstrip().endswith("%")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["topology", "prices", "--json", "--precision", "int8"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["precision"] == "int8"
    assert set(data["pools"][0]) == {
        "site",
        "pool_index",
        "provider",
        "hub",
        "zone",
        "accelerator",
        "price_cny_per_hour",
        "cny_per_pflop_hour",
    }
    assert data["spread"][-1]["accelerator"] == "all"


def test_topology_prices_rejects_an_unknown_precision(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["topology", "prices", "--precision", "fp8"])
    assert exc.value.code == 2
    assert "--precision" in capsys.readouterr().err
