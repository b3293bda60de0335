"""Pictures: the commands write real PNGs (signature, size, dimensions, varied pixels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from router.cli.main import main
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


def orange_pixels(path: Path) -> int:
    """Pixels in the west colour family (strong red, weaker green, little blue)."""
    rgb = np.asarray(imread(path))[..., :3]
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return int(((r > 0.75) & (g > 0.3) & (g < 0.7) & (b < 0.4)).sum())


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
    # Most work goes west, so the flows add a lot of the west colour to the picture.
    assert orange_pixels(flows) > 1.5 * orange_pixels(bare)


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
    # Taking Ningxia down removes its big orange markers and flows from the map.
    base = orange_pixels(tmp_path / "whatif-map-baseline.png")
    down = orange_pixels(tmp_path / "whatif-map-zhongwei-down.png")
    assert down < base


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
