"""Build topology/china-edwc.yaml, the shipped default topology, from the tables below.

Why a script: the card-hour prices and most link figures are derived (electricity x PUE,
great-circle distance x route factor), so the derivation lives here, executable, next to
the numbers it produces. The YAML it writes is plain, commented and hand-editable; if you
edit the YAML by hand, port the change back here or stop regenerating.

Usage (from the repository root):
    python topology/tools/build_china_edwc.py            # rewrite topology/china-edwc.yaml
    python topology/tools/build_china_edwc.py --check    # exit 1 if the YAML is stale

Facts and sources: /work/shared/data/edwc-facts.md (summarised in docs/topology.md).
[E] marks an estimate, as in the facts file.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "china-edwc.yaml"

# --- Accelerators ---------------------------------------------------------------------
# name, vendor, stack, memory_gb, tdp_kw [E], training, tflops, note
# fmt: off
ACCELERATORS: list[tuple[str, str, str, int, float, bool, dict[str, float], str]] = [
    ("A100", "nvidia", "cuda", 80, 0.4, True,
     {"fp64": 9.7, "fp32": 19.5, "fp16": 312, "int8": 624}, "SXM"),
    ("A800", "nvidia", "cuda", 80, 0.4, True,
     {"fp64": 9.7, "fp32": 19.5, "fp16": 312, "int8": 624},
     "China SKU of A100, NVLink 400 GB/s"),
    ("H100", "nvidia", "cuda", 80, 0.7, True,
     {"fp64": 34, "fp32": 67, "fp16": 989, "int8": 1979}, "SXM"),
    ("H800", "nvidia", "cuda", 80, 0.7, True,
     {"fp64": 1, "fp32": 67, "fp16": 989, "int8": 1979}, "China SKU of H100; fp64 ~1 [E]"),
    ("H20", "nvidia", "cuda", 96, 0.4, False,
     {"fp64": 1, "fp32": 44, "fp16": 148, "int8": 296}, "inference part"),
    ("V100", "nvidia", "cuda", 32, 0.3, True,
     {"fp64": 7.8, "fp32": 15.7, "fp16": 125}, "legacy; no int8 tensor cores"),
    ("Ascend910B", "huawei", "cann", 64, 0.4, True,
     {"fp16": 300, "int8": 640},
     "fp16 300 = midpoint of 280-320 [E]; int8 640 [E, Ascend 910]; no fp64/fp32"),
    ("HygonDCU", "hygon", "dtk", 32, 0.3, True,
     {"fp64": 10, "fp32": 12, "fp16": 24},
     "Z100; tflops and memory ~ [E]; the only domestic FP64 part"),
    ("MLU370-X8", "cambricon", "neuware", 48, 0.25, False,
     {"fp32": 32, "fp16": 96, "int8": 256}, "inference only; int8 from Cambricon datasheet"),
    ("BR100", "biren", "supa", 64, 0.55, True,
     {"fp32": 256, "fp16": 1024, "int8": 2048}, "Hot Chips 34 figures (vendor peak)"),
    ("Iluvatar-MR-V100", "iluvatar", "corex", 32, 0.15, False,
     {"fp32": 24, "fp16": 96}, "fp32/fp16/memory ~ [E]; inference"),
]
# fmt: on

# East reference rent per card-hour (CNY) at a Shanghai-class site (0.75 CNY/kWh, PUE 1.25).
# NVIDIA/Ascend figures sit inside the facts' ranges; the others are [E] with their reasoning.
LIST_PRICE: dict[str, tuple[float, str]] = {
    "A100": (11.0, "facts: A100/A800 5-12"),
    "A800": (10.8, "facts: A100/A800 5-12"),
    "H100": (13.0, "facts: H100 12-13"),
    "H800": (14.5, "facts: H800 10-15"),
    "H20": (8.5, "facts: H20 6-9"),
    "V100": (3.5, "[E] ~1/3 of A100: A100 is ~3.5x V100"),
    "Ascend910B": (9.0, "facts: Ascend 910B 6-10"),
    "HygonDCU": (4.5, "[E] ~40% of A100 rent for ~60% of its FP64 (domestic HPC discount)"),
    "MLU370-X8": (4.0, "[E] ~half of H20 rent; inference-only domestic part"),
    "BR100": (15.0, "[E] priced per fp16 TFLOPS like H800 (14.5 x 1024/989)"),
    "Iluvatar-MR-V100": (3.0, "[E] ~1/3 of H20 rent; small inference part"),
}
REF_ELECTRICITY = 0.75  # CNY/kWh, mid of the facts' east range 0.60-0.90 [E]
REF_PUE = 1.25  # east PUE target
ENERGY_SHARE = 0.5  # electricity is 45-55% of opex south of the Yangtze (facts)

# --- Hubs and regions -----------------------------------------------------------------
HUBS = [
    ("jingjinji", "Beijing-Tianjin-Hebei", "east"),
    ("yangtze-delta", "Yangtze River Delta", "east"),
    ("greater-bay", "Guangdong-Hong Kong-Macao Greater Bay Area", "east"),
    ("chengyu", "Chengdu-Chongqing", "east"),
    ("inner-mongolia", "Inner Mongolia", "west"),
    ("guizhou", "Guizhou", "west"),
    ("gansu", "Gansu", "west"),
    ("ningxia", "Ningxia", "west"),
]
REGIONS = [
    ("beijing", "jingjinji", 39.90, 116.40),
    ("shanghai", "yangtze-delta", 31.23, 121.47),
    ("hangzhou", "yangtze-delta", 30.27, 120.16),
    ("guangzhou", "greater-bay", 23.13, 113.26),
    ("shenzhen", "greater-bay", 22.54, 114.06),
    ("chengdu", "chengyu", 30.66, 104.07),
]


# --- Sites ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SiteRow:
    """One datacenter: location, energy figures with their provenance, and its pools."""

    name: str
    hub: str
    provider: str
    lat: float
    lon: float
    where: str
    pue: float
    electricity: float
    electricity_note: str
    carbon: float
    carbon_note: str
    pools: tuple[tuple[str, int], ...]


# fmt: off
SITES = [
    # East: scarce, dear, close to users.
    SiteRow("zhangjiakou", "jingjinji", "alibaba", 40.77, 114.89,
            "Zhangbei, Zhangjiakou cluster",
            1.20, 0.62, "[E] low end of the east range 0.60-0.90 (Hebei)",
            725.2, "Hebei provincial factor",
            (("A800", 512), ("A100", 128), ("H20", 512), ("V100", 256))),
    SiteRow("huailai", "jingjinji", "tencent", 40.41, 115.52,
            "Huailai, second site of the Zhangjiakou cluster; coordinates [E]",
            1.22, 0.62, "[E] low end of the east range 0.60-0.90 (Hebei)",
            725.2, "Hebei provincial factor",
            (("H800", 128), ("A800", 256), ("H20", 256))),
    SiteRow("yrd-demo-zone", "yangtze-delta", "baidu", 31.00, 120.90,
            "Qingpu / Wujiang / Jiashan demonstration zone",
            1.25, 0.75, "[E] mid of the east range 0.60-0.90 (Shanghai)",
            561.7, "East China grid factor",
            (("H100", 64), ("A100", 128), ("A800", 256), ("H20", 256), ("MLU370-X8", 256))),
    SiteRow("wuhu", "yangtze-delta", "huawei-cloud", 31.33, 118.38,
            "Wuhu, Anhui",
            1.22, 0.68, "[E] inside the east range 0.60-0.90 (Anhui, not in facts)",
            678.2, "Anhui provincial factor",
            (("Ascend910B", 1024),)),
    SiteRow("shaoguan", "greater-bay", "ctyun", 24.81, 113.60,
            "Shaoguan, Guangdong",
            1.25, 0.70, "[E] inside the east range 0.60-0.90 (Guangdong)",
            386.9, "Southern grid factor (Guangdong)",
            (("A800", 256), ("H20", 256), ("Ascend910B", 256), ("MLU370-X8", 128))),
    SiteRow("tianfu", "chengyu", "sugon", 30.40, 104.05,
            "Chengdu Tianfu New Area",
            1.20, 0.60, "[E] low end of the east range (Sichuan hydro; not in facts)",
            140.4, "Sichuan provincial factor",
            (("HygonDCU", 512), ("Ascend910B", 512), ("V100", 128))),
    SiteRow("chongqing", "chengyu", "china-unicom", 29.60, 106.50,
            "Chongqing",
            1.23, 0.62, "[E] low end of the east range (not in facts)",
            226.8, "Southwest grid factor (Chongqing)",
            (("A800", 256), ("H20", 128), ("Iluvatar-MR-V100", 256))),
    # West: abundant, cheap, 4-20 ms away.
    SiteRow("horinger", "inner-mongolia", "china-mobile", 40.38, 111.82,
            "Horinger, Hohhot",
            1.15, 0.38, "facts: Hohhot 0.38",
            684.9, "Inner Mongolia provincial factor",
            (("A800", 2048), ("Ascend910B", 2048), ("H20", 1024), ("V100", 512))),
    SiteRow("guian", "guizhou", "huawei-cloud", 26.40, 106.40,
            "Gui'an New Area, Guiyang",
            1.12, 0.35, "facts: Gui'an 0.35 (discounted)",
            386.9, "Southern grid factor (Guizhou)",
            (("Ascend910B", 4096),)),
    SiteRow("guian-qixing", "guizhou", "tencent", 26.43, 106.33,
            "Gui'an, second provider in the cluster; coordinates [E]",
            1.10, 0.35, "facts: Gui'an 0.35 (discounted)",
            386.9, "Southern grid factor (Guizhou)",
            (("A800", 1024), ("H800", 96), ("H20", 512))),
    SiteRow("qingyang", "gansu", "china-unicom", 35.71, 107.64,
            "Qingyang, Xifeng",
            1.15, 0.35, "[E] mid of the facts' Gansu range 0.30-0.40",
            585.7, "Northwest grid factor (Gansu)",
            (("HygonDCU", 1024), ("Ascend910B", 1024), ("BR100", 128),
             ("Iluvatar-MR-V100", 512))),
    SiteRow("zhongwei", "ningxia", "ctyun", 37.50, 105.19,
            "Zhongwei",
            1.15, 0.36, "facts: Zhongwei 0.36",
            585.7, "Northwest grid factor (Ningxia)",
            (("A800", 4096), ("H800", 128), ("MLU370-X8", 512))),
    SiteRow("zhongwei-cmcc", "ningxia", "china-mobile", 37.52, 105.16,
            "Zhongwei, second provider in the cluster; coordinates [E]",
            1.12, 0.36, "facts: Zhongwei 0.36",
            585.7, "Northwest grid factor (Ningxia)",
            (("A800", 1024), ("Ascend910B", 512), ("H20", 512))),
]
# fmt: on

# --- Links ----------------------------------------------------------------------------
ROUTE_FACTOR = 1.7  # [E] fibre route vs great circle, middle of the facts' 1.5-2.0
KM_MS = 0.005  # one-way ms per km of fibre
FIXED_MS = 1.0  # equipment / last mile

# Measured one-way figures (facts, "Pairs"), keyed by (region, cluster).
MEASURED: dict[tuple[str, str], tuple[float, str]] = {
    ("beijing", "zhongwei"): (9.0, "measured 8-10 ms"),
    ("shanghai", "zhongwei"): (14.0, "measured < 15 ms"),
    ("shanghai", "wuhu"): (4.0, "measured 4 ms"),
    ("chengdu", "guian"): (6.0, "measured 6 ms (Gui'an-Chengyu)"),
    ("guangzhou", "guian"): (10.0, "measured 10 ms (Gui'an-Greater Bay)"),
    ("shenzhen", "guian"): (10.0, "measured 10 ms (Gui'an-Greater Bay)"),
    ("shanghai", "guian"): (15.0, "measured 15 ms (Gui'an-Yangtze Delta)"),
    ("hangzhou", "guian"): (15.0, "measured 15 ms (Gui'an-Yangtze Delta)"),
    ("beijing", "guian"): (19.0, "measured 20 / < 20 ms (Gui'an-Jingjinji)"),
}
# Second sites share their cluster's measured figures.
CLUSTER_OF = {"guian-qixing": "guian", "zhongwei-cmcc": "zhongwei", "huailai": "zhangjiakou"}

# Bandwidth [E] (per job-visible share of the backbone) and transfer price [E].
IN_HUB = (800, 0.005)
CROSS_EAST = (200, 0.03)
EAST_WEST = {
    "ningxia": (400, 0.02),
    "guizhou": (400, 0.02),
    "inner-mongolia": (400, 0.02),
    "gansu": (200, 0.02),
}


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance on a 6371 km sphere."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def estimate_ms(km: float) -> float:
    """The facts' estimate for a missing pair: 0.005 ms/km x km x route factor + 1 ms."""
    return round(KM_MS * km * ROUTE_FACTOR + FIXED_MS, 1)


def price_factor(site: SiteRow) -> float:
    """Rent relative to the east reference: the energy share scales with electricity x PUE."""
    energy = site.electricity * site.pue / (REF_ELECTRICITY * REF_PUE)
    return (1 - ENERGY_SHARE) + ENERGY_SHARE * energy


def fmt(x: float) -> str:
    """Short number: no trailing zeros."""
    return f"{x:.3f}".rstrip("0").rstrip(".")


def render() -> str:
    """The whole YAML document as text, comments included."""
    zone = {h: z for h, _, z in HUBS}
    out: list[str] = []
    w = out.append
    w("# china-edwc: the default East-Data-West-Compute topology shipped with westward.")
    w("# GENERATED by topology/tools/build_china_edwc.py (edit the tables there, rerun).")
    w("#")
    w("# Sources (facts file /work/shared/data/edwc-facts.md; titles):")
    w("#  - NDRC and partners, national hub and cluster approvals (Feb 2022): 8 hubs, 10 clusters")
    w("#  - Implementation opinion on the national integrated computing network (Dec 2023):")
    w("#    1 / 5 / 20 ms latency circles; PUE targets east <= 1.25, west <= 1.2")
    w("#  - CAICT compute-network quality bulletin 2024 Q1: inter-cluster one-way latency")
    w("#  - China News Service on Zhongwei latency (2022-08-29); China Daily on Gui'an")
    w("#    (2023-08-23); IT Times seed article (Guizhou-Beijing 20 ms)")
    w("#  - NVIDIA datasheets; Hot Chips 34 (Biren BR100); Cambricon MLU370-X8 datasheet")
    w("#  - MEE/NBS 2022 grid emission factors (published 2024)")
    w("#")
    w("# [E] marks an estimate. Main derivations:")
    w(
        f"#  - Price per card-hour = list x ({1 - ENERGY_SHARE:g} + {ENERGY_SHARE:g} x "
        f"elec x PUE / ({REF_ELECTRICITY} x {REF_PUE})) [E]."
    )
    w("#    list = east reference rent at a Shanghai-class site; half of rent is energy there")
    w("#    (electricity is 45-55% of opex south of the Yangtze, ~30% in Inner Mongolia).")
    w("#    Result: west sites 17-30% cheaper than east sites (facts: 15-35%).")
    w(f"#  - Missing latency pairs: one-way ms = {KM_MS} x great-circle km x {ROUTE_FACTOR}")
    w(f"#    (route factor, facts 1.5-2.0) + {FIXED_MS:g} [E]; measured pairs are marked.")
    w(
        f"#  - Bandwidth / transfer price [E]: in-hub {IN_HUB[0]} Gbps, {IN_HUB[1]} CNY/GB; "
        f"east-west {EAST_WEST['ningxia'][0]} Gbps"
    )
    w(
        f"#    ({EAST_WEST['gansu'][0]} to the newer Gansu cluster), "
        f"{EAST_WEST['ningxia'][1]} CNY/GB; east-east cross-hub {CROSS_EAST[0]} Gbps, "
        f"{CROSS_EAST[1]} CNY/GB."
    )
    w("#  - Carbon: 2022 grid factors (provincial where published, else regional grid).")
    w("#    Sites buying green power (Zhongwei claims > 90%) would be far lower.")
    w("#  - Providers and pool sizes are illustrative [E], not claims about real fleets.")
    w("")
    w("version: 1")
    w("name: china-edwc")
    w("")
    w("# Dense TFLOPS per precision (int8 in TOPS); a precision the part lacks is omitted.")
    w("# tdp_kw [E]: board power from vendor datasheets, rounded. training: false = inference.")
    w("accelerators:")
    for name, vendor, stack, mem, tdp, train, tf, note in ACCELERATORS:
        tfs = ", ".join(f"{k}: {fmt(v)}" for k, v in tf.items())
        w(f"  # {name}: {note}")
        w(f"  - {{name: {name}, vendor: {vendor}, stack: {stack}, memory_gb: {mem},")
        w(f"     tdp_kw: {fmt(tdp)}, training: {str(train).lower()}, tflops: {{{tfs}}}}}")
    w("")
    w("# Eight national hubs. Chengdu-Chongqing is a demand-side hub and counts as east.")
    w("hubs:")
    for name, title, z in HUBS:
        w(f"  - {{name: {name}, title: {title}, zone: {z}}}")
    w("")
    w("# Demand points: where users and data are. Coordinates are city centres [E].")
    w("regions:")
    for name, hub, lat, lon in REGIONS:
        w(f"  - {{name: {name}, hub: {hub}, lat: {lat:.2f}, lon: {lon:.2f}}}")
    w("")
    w("exchanges: []")
    w("")
    w("# The ten clusters plus three second sites run by another provider.")
    w("# Cluster coordinates are [E] (facts). PUE [E] per site within the targets.")
    w("sites:")
    for s in SITES:
        f = price_factor(s)
        target = "<= 1.25" if zone[s.hub] == "east" else "<= 1.2"
        w(f"  - name: {s.name}".ljust(40) + f"# {s.where}")
        w(f"    hub: {s.hub}")
        w(f"    provider: {s.provider}".ljust(40) + "# [E] illustrative operator")
        w(f"    lat: {s.lat:.2f}")
        w(f"    lon: {s.lon:.2f}")
        w("    status: up")
        w(f"    pue: {s.pue:.2f}".ljust(40) + f"# [E] {zone[s.hub]} target {target}")
        w(f"    electricity_cny_per_kwh: {s.electricity:.2f}".ljust(40) + f"# {s.electricity_note}")
        w(f"    carbon_g_per_kwh: {fmt(s.carbon)}".ljust(40) + f"# {s.carbon_note}")
        w(
            f"    # [E] price = list x {f:.3f}  (0.5 + 0.5 x {s.electricity:.2f} x {s.pue:.2f}"
            f" / {REF_ELECTRICITY * REF_PUE:g}); counts [E]"
        )
        w("    pools:")
        for acc, count in s.pools:
            lp = LIST_PRICE[acc][0]
            price = round(lp * f, 2)
            entry = (
                f"      - {{accelerator: {acc}, count: {count}, price_cny_per_hour: {price:.2f}}}"
            )
            w(entry.ljust(82) + f"# [E] list {lp:.2f} x {f:.3f}")
    w("")
    w("# Every region links directly to every site (undirected). One-way latency_ms is")
    w("# measured where marked, else [E] 0.005 x great-circle km x 1.7 + 1 (km shown).")
    w("# Bandwidth and price per GB are [E] by tier: in-hub 800 Gbps / 0.005 CNY/GB;")
    w("# east-west 400 (Gansu 200) / 0.02; east-east cross-hub 200 / 0.03.")
    w("links:")
    site_hub = {s.name: s.hub for s in SITES}
    for rname, rhub, rlat, rlon in REGIONS:
        w(f"  # from {rname} ({rhub})")
        for s in SITES:
            cluster = CLUSTER_OF.get(s.name, s.name)
            km = great_circle_km(rlat, rlon, s.lat, s.lon)
            if (rname, cluster) in MEASURED:
                lat_ms, note = MEASURED[(rname, cluster)]
            else:
                lat_ms, note = estimate_ms(km), f"[E] {km:.0f} km"
            if site_hub[s.name] == rhub:
                bw, ppg = IN_HUB
                tier = "in-hub"
            elif zone[site_hub[s.name]] == "west":
                bw, ppg = EAST_WEST[site_hub[s.name]]
                tier = "east-west"
            else:
                bw, ppg = CROSS_EAST
                tier = "east-east"
            entry = (
                f"  - {{a: {rname}, b: {s.name}, latency_ms: {lat_ms:.1f}, "
                f"bandwidth_gbps: {bw}, price_cny_per_gb: {fmt(ppg)}}}"
            )
            w(entry.ljust(100) + f"# {tier}, {note}")
    return "\n".join(out) + "\n"


def main() -> int:
    """Write the YAML, or with --check report whether it is up to date."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the YAML is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is stale: rerun {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
