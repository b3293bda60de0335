"""Topology authoring: show (with the latency matrix), init, fill-latencies."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from router.cli.main import main
from router.model.authoring import estimate_latency_ms, great_circle_km, latency_matrix
from router.model.topology import Topology, default_topology, load_topology
from router.place.network import Network
from tests.conftest import MINI, ROOT

DEFAULT = ROOT / "topology" / "china-edwc.yaml"


def test_show_json_has_the_latency_matrix_of_the_engine(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["topology", "show", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    topology = default_topology()
    network = Network(topology)
    matrix = data["latency_ms_from_regions"]
    assert set(matrix) == set(topology.regions)
    for region, row in matrix.items():
        assert set(row) == set(topology.sites)
        for site, ms in row.items():
            path = network.path(region, site)
            assert path is not None
            assert ms == pytest.approx(path.latency_ms, abs=1e-3)
    # Measured figures from the facts survive: Shanghai-Zhongwei 14 ms, Beijing-Zhongwei 9.
    assert matrix["shanghai"]["zhongwei"] == 14.0 and matrix["beijing"]["zhongwei"] == 9.0
    assert {s["name"] for s in data["sites"]} == set(topology.sites)


def test_show_prints_hubs_pools_and_matrix(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topology", "show"]) == 0
    out = capsys.readouterr().out
    assert "HUB" in out and "DEVICES" in out and "CNY/H" in out
    matrix = out.split("One-way latency (ms) from regions to sites")[1]
    header = matrix.splitlines()[1].split()
    assert header[0] == "REGION" and set(header[1:]) == set(default_topology().sites)
    beijing = next(line for line in matrix.splitlines() if line.startswith("beijing"))
    assert beijing.split()[header.index("horinger")] == "4.3"


def test_a_down_link_changes_the_matrix(tmp_path: Path) -> None:
    text = MINI.read_text().replace(
        "b: zhongwei, latency_ms: 14, bandwidth_gbps: 100, price_cny_per_gb: 0.02}",
        "b: zhongwei, latency_ms: 14, bandwidth_gbps: 100, price_cny_per_gb: 0.02, status: down}",
    )
    path = tmp_path / "down.yaml"
    path.write_text(text)
    matrix = latency_matrix(load_topology(path))
    assert matrix["shanghai"] == {"qingpu": 2.0, "zhongwei": None}


def test_init_writes_a_valid_commented_starter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine.yaml"
    assert main(["topology", "init", "--out", str(out)]) == 0
    text = out.read_text()
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert len(comments) >= 15
    topology = load_topology(out)
    zones = {h.zone for h in topology.hubs.values()}
    assert zones == {"east", "west"} and topology.sites and topology.links
    capsys.readouterr()
    assert main(["topology", "init", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["topology", "init"]) == 0
    assert capsys.readouterr().out == text


def test_starter_without_latencies_fails_only_with_the_hint_it_announces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["topology", "init"]) == 0
    text = capsys.readouterr().out
    assert "fill-latencies" in text, "the template announces how to leave latencies out"
    bare = tmp_path / "bare.yaml"
    bare.write_text(re.sub(r", latency_ms: [\d.]+", "", text))
    links = len(load_topology_text(text).links)

    assert main(["topology", "validate", str(bare)]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == links
    for i, line in enumerate(errors):
        assert re.fullmatch(
            rf"error: {re.escape(str(bare))}:\d+: links\[{i}\]\.latency_ms: is required "
            r"\(a number > 0\); or run `westward topology fill-latencies` on this file .*",
            line,
        ), line

    filled = tmp_path / "filled.yaml"
    assert main(["topology", "fill-latencies", str(bare), "--out", str(filled)]) == 0
    assert f"estimated {links} link latencies" in capsys.readouterr().err
    assert main(["topology", "validate", str(filled)]) == 0
    assert f"{links} links" in capsys.readouterr().out


def load_topology_text(text: str) -> Topology:
    from router.model.sourcefile import parse_yaml
    from router.model.topology import parse_topology

    return parse_topology(parse_yaml(text, "starter").data)


def test_estimate_formula() -> None:
    # Beijing to Shanghai is about 1,068 km over the earth's surface.
    assert great_circle_km(39.90, 116.40, 31.23, 121.47) == pytest.approx(1068, abs=5)
    assert estimate_latency_ms(1000, 1.7, 1.0) == pytest.approx(9.5)
    assert estimate_latency_ms(0, 1.5, 0.0) == 0.0


def _estimated_links(text: str) -> list[int]:
    return [
        i for i, line in enumerate(text.splitlines()) if re.search(r"\{a: .*\[E\] \d+ km", line)
    ]


def test_fill_latencies_reproduces_the_default_topology_estimates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default topology's [E] link latencies use the same formula: drop them, refill."""
    text = DEFAULT.read_text()
    lines = text.splitlines(keepends=True)
    estimated = _estimated_links(text)
    assert len(estimated) > 30
    for i in estimated:
        lines[i] = re.sub(r" latency_ms: [\d.]+,", "", lines[i], count=1)
    missing = tmp_path / "missing.yaml"
    missing.write_text("".join(lines))
    assert main(["topology", "validate", str(missing)]) == 2
    assert "latency_ms: is required" in capsys.readouterr().err
    filled = tmp_path / "filled.yaml"
    assert main(["topology", "fill-latencies", str(missing), "--out", str(filled)]) == 0
    assert f"estimated {len(estimated)} link latencies" in capsys.readouterr().err
    original, refilled = load_topology(DEFAULT), load_topology(filled)
    for old, new in zip(original.links, refilled.links, strict=True):
        assert (old.a, old.b) == (new.a, new.b)
        assert new.latency_ms == pytest.approx(old.latency_ms, abs=0.1), (old.a, old.b)
    out = filled.read_text()
    marks = out.count("# [E] latency_ms estimated from coordinates")
    assert marks == len(estimated)
    # Everything else is kept as written, comments included.
    kept = [line for line in out.splitlines() if "latency_ms estimated from" not in line]
    assert len(kept) == len(text.splitlines())


def test_fill_latencies_handles_block_style_links(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = MINI.read_text().replace(
        "  - {a: shanghai, b: zhongwei, latency_ms: 14, bandwidth_gbps: 100, "
        "price_cny_per_gb: 0.02}\n",
        "  - a: shanghai   # the long haul\n    b: zhongwei\n    bandwidth_gbps: 100\n"
        "    price_cny_per_gb: 0.02\n",
    )
    path = tmp_path / "block.yaml"
    path.write_text(text)
    assert main(["topology", "fill-latencies", str(path), "--route-factor", "2"]) == 0
    out = capsys.readouterr().out
    filled = tmp_path / "filled.yaml"
    filled.write_text(out)
    topology = load_topology(filled)
    shanghai, zhongwei = topology.regions["shanghai"], topology.sites["zhongwei"]
    km = great_circle_km(shanghai.lat, shanghai.lon, zhongwei.lat, zhongwei.lon)
    link = next(ln for ln in topology.links if ln.b == "zhongwei")
    assert link.latency_ms == estimate_latency_ms(km, 2.0, 1.0)
    assert "# the long haul" in out and "x 2 route factor" in out


def test_fill_latencies_reports_other_mistakes_with_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = MINI.read_text()
    text = text.replace("latency_ms: 14, ", "").replace("b: qingpu,", "b: qingpo,")
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["topology", "fill-latencies", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    line = text.splitlines().index(next(x for x in text.splitlines() if "qingpo" in x)) + 1
    assert err == [
        f"error: {path}:{line}: links[0].b: unknown place 'qingpo'; did you mean 'qingpu'?"
    ]


def test_bad_route_factor_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["topology", "fill-latencies", str(MINI), "--route-factor", "0.5"])
    assert exc.value.code == 2
    assert "--route-factor: must be a number >= 1, got 0.5" in capsys.readouterr().err
