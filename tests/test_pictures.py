"""Pictures: the commands write real PNGs (signature, size, dimensions, varied pixels), and
the drawing functions draw the right data (counted from the artists they return)."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.legend import Legend
from matplotlib.patches import Rectangle

from router.cli.main import main
from router.model.jobs import Job, load_jobs
from router.model.topology import Topology, default_topology
from router.plan import plan_jobs
from router.report.capacity import draw_capacity
from router.report.mapbase import outline, positions
from router.report.pictures import backbone, draw_map
from router.results import JobMove, Plan
from tests.conftest import ROOT

JOBS = ROOT / "examples" / "jobs" / "east-west-mix.yaml"
SCENARIOS = ROOT / "examples" / "scenarios"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_real_picture(path: Path, min_kb: int = 30, min_side: int = 500) -> None:
    """A PNG of some size whose pixels are not all one colour, and not mostly blank."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert path.stat().st_size > min_kb * 1024, f"{path} is only {path.stat().st_size} bytes"
    pixels = np.asarray(imread(path))
    height, width = pixels.shape[:2]
    assert min(height, width) >= min_side, f"{path} is {width}x{height}"
    rgb = pixels[..., :3]
    assert float(rgb.std()) > 0.05, f"{path} is nearly uniform"
    not_white = (rgb < 0.95).any(axis=-1).mean()
    assert not_white > 0.05, f"{path} is {100 * (1 - not_white):.0f}% white"


def test_topology_render_draws_the_default_topology(tmp_path: Path) -> None:
    out = tmp_path / "topology.png"
    assert main(["topology", "render", "--out", str(out)]) == 0
    assert_real_picture(out)


def test_render_with_jobs_draws_flows(tmp_path: Path) -> None:
    bare, flows = tmp_path / "bare.png", tmp_path / "flows.png"
    assert main(["topology", "render", "--out", str(bare)]) == 0
    argv = ["topology", "render", "--out", str(flows), "--jobs", str(JOBS), "--time-limit", "2"]
    assert main(argv) == 0
    assert_real_picture(flows)


def test_whatif_plot_writes_comparison_maps_and_sweep(tmp_path: Path) -> None:
    out = tmp_path / "whatif.png"
    argv = ["whatif", "--jobs", str(JOBS), "--time-limit", "2", "--plot", str(out)]
    for name in ("zhongwei-down.yaml", "west-price-sweep.yaml"):
        argv += ["--scenario", str(SCENARIOS / name)]
    assert main(argv) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == [
        "whatif-map-baseline.png",
        "whatif-map-zhongwei-down.png",
        "whatif-sweep-west-price-sweep.png",
        "whatif.png",
    ]
    for name in written:
        assert_real_picture(tmp_path / name)


def test_the_readme_picture_is_a_real_picture() -> None:
    assert_real_picture(ROOT / "docs" / "img" / "plan-map.png")


@pytest.mark.parametrize("bad", ["nowhere/x.png"])
def test_unwritable_output_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    code = main(["topology", "render", "--out", str(tmp_path / bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and "cannot write" in err and "Traceback" not in err


# The drawing functions get the right data: counted from the artists they return.


@pytest.fixture(scope="module")
def default_plan() -> tuple[Topology, list[Job], Plan]:
    topology = default_topology()
    jobs = load_jobs(JOBS, topology)
    return topology, jobs, plan_jobs(topology, jobs, time_limit_s=2)


def artists(fig: Figure, prefix: str) -> list[Artist]:
    """Every artist in the figure whose gid starts with `prefix`."""
    return [a for a in fig.findobj() if str(a.get_gid() or "").startswith(prefix)]


def test_map_draws_one_flow_per_city_and_site_over_the_links_it_uses(
    tmp_path: Path, default_plan: tuple[Topology, list[Job], Plan]
) -> None:
    topology, _, plan = default_plan
    fig = draw_map(topology, tmp_path / "map.png", plan)
    assert_real_picture(tmp_path / "map.png")
    pairs = {(p.path[0], p.site) for p in plan.placements if p.path[0] != p.site}
    drawn = {tuple(str(a.get_gid()).split(":")[1].split(">")) for a in artists(fig, "flow:")}
    assert drawn == pairs
    on_paths = {frozenset(pair) for p in plan.placements for pair in pairwise(p.path)}
    backbone = artists(fig, "link:")
    assert len(backbone) == len(topology.links)
    assert sum(str(a.get_gid()).endswith(":backbone") for a in backbone) == len(on_paths)
    assert len(artists(fig, "site:")) == len(topology.sites)


def test_map_has_a_legend_for_flow_width(
    tmp_path: Path, default_plan: tuple[Topology, list[Job], Plan]
) -> None:
    topology, _, plan = default_plan
    fig = draw_map(topology, tmp_path / "map.png", plan)
    titles = [legend.get_title().get_text() for legend in fig.axes[0].findobj(Legend)]
    assert "flow: device-hours" in titles
    legend = next(lg for lg in fig.axes[0].findobj(Legend) if lg.get_title().get_text())
    widths = [line.get_linewidth() for line in legend.get_lines()]
    assert len(widths) == 3 and widths == sorted(widths, reverse=True)


def test_map_labels_do_not_overlap(
    tmp_path: Path, default_plan: tuple[Topology, list[Job], Plan]
) -> None:
    topology, _, plan = default_plan
    fig = draw_map(topology, tmp_path / "map.png", plan)
    renderer = FigureCanvasAgg(fig).get_renderer()
    labels = artists(fig, "label:")
    assert len(labels) == len(topology.sites) + len(topology.regions)
    boxes = [a.get_window_extent(renderer) for a in labels]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (a, b)


def test_sites_sharing_a_place_are_drawn_apart() -> None:
    topology = default_topology()
    coords = positions(topology)
    shared = [
        (a, b)
        for a in topology.sites.values()
        for b in topology.sites.values()
        if a.name < b.name and abs(a.lon - b.lon) + abs(a.lat - b.lat) < 0.3
    ]
    assert shared, "the default topology has co-located sites (zhongwei, zhongwei-cmcc)"
    for a, b in shared:
        (ax, ay), (bx, by) = coords[a.name], coords[b.name]
        assert abs(ax - bx) + abs(ay - by) > 0.8  # a marker's width apart
        assert abs(ay - a.lat) < 1.0 and abs(ax - a.lon) < 1.0  # nudged, not moved away


def test_whatif_map_marks_what_moved_against_the_baseline(
    tmp_path: Path, default_plan: tuple[Topology, list[Job], Plan]
) -> None:
    topology, _, plan = default_plan
    moved_job = next(p for p in plan.placements if p.path[0] != p.site)
    moves = [JobMove(moved_job.job, "zhongwei", moved_job.site)]
    fig = draw_map(topology, tmp_path / "moved.png", plan, moves=moves, lost_jobs=["lost-1"])
    moved = [str(a.get_gid()) for a in artists(fig, "flow:") if str(a.get_gid()).endswith(":moved")]
    assert moved == [f"flow:{moved_job.path[0]}>{moved_job.site}:moved"]
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any(t.startswith("zhongwei ") and "moved −1" in t for t in texts)
    assert any("lost-1" in t for t in texts)


def test_capacity_panel_shows_each_pool_and_the_unplaced_demand(tmp_path: Path) -> None:
    topology = default_topology()
    jobs = load_jobs(ROOT / "examples" / "jobs" / "capacity-crunch.yaml", topology)
    plan = plan_jobs(topology, jobs, time_limit_s=2)
    assert plan.unplaced, "the crunch leaves jobs unplaced"
    fig = draw_capacity(topology, plan, jobs, tmp_path / "capacity.png")
    assert_real_picture(tmp_path / "capacity.png")
    pools = sum(len(s.pools) for s in topology.sites.values())
    used_bars = [a for a in artists(fig, "used:") if isinstance(a, Rectangle)]
    assert len(used_bars) == pools
    assert sum(bar.get_width() for bar in used_bars) == sum(p.count for p in plan.placements)
    free_bars = [a for a in artists(fig, "free:") if isinstance(a, Rectangle)]
    capacity = sum(p.count for s in topology.sites.values() for p in s.pools)
    assert sum(b.get_width() for b in used_bars + free_bars) == capacity
    by_name = {j.name: j for j in jobs}
    missing = sum(by_name[u.job].count for u in plan.unplaced)
    demand = [a for a in artists(fig, "unplaced") if isinstance(a, Rectangle)]
    assert sum(bar.get_width() for bar in demand) == 2 * missing  # by type, and by region


def test_render_writes_the_capacity_panel_only_with_jobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["topology", "render", "--out", str(tmp_path / "m.png")]
    assert main([*argv, "--capacity", str(tmp_path / "c.png")]) == 2
    assert "--capacity: needs --jobs" in capsys.readouterr().err
    argv += ["--jobs", str(JOBS), "--time-limit", "2", "--capacity", str(tmp_path / "c.png")]
    assert main(argv) == 0
    assert_real_picture(tmp_path / "c.png")


def test_the_outline_is_shipped_with_its_source_and_licence() -> None:
    shipped = outline()
    assert "Natural Earth" in shipped["source"] and "public domain" in shipped["licence"]
    names = {c["name"] for c in shipped["countries"]}
    assert {"China", "Mongolia", "Japan"} <= names
    china = next(c for c in shipped["countries"] if c["name"] == "China")
    lons = [lon for ring in china["rings"] for lon, _ in ring]
    assert 73 < min(lons) < 75 and 134 < max(lons) < 136  # Pamir to the Ussuri


def test_the_capacity_picture_for_the_readme_is_a_real_picture() -> None:
    assert_real_picture(ROOT / "docs" / "img" / "capacity.png")


def test_map_without_a_plan_emphasises_each_citys_routes_west(tmp_path: Path) -> None:
    topology = default_topology()
    fig = draw_map(topology, tmp_path / "bare.png")
    emphasised = backbone(topology, None)
    drawn = [str(a.get_gid()) for a in artists(fig, "link:")]
    assert sum(gid.endswith(":backbone") for gid in drawn) == len(emphasised)
    assert 0 < len(emphasised) < len(topology.links) / 2  # the backbone reads, not a hairball
    west_hubs = {h.name for h in topology.hubs.values() if h.zone == "west"}
    for region in topology.regions:
        reached = {
            topology.sites[end].hub
            for link in emphasised
            if region in link
            for end in link - {region}
            if end in topology.sites
        }
        assert west_hubs <= reached, region
