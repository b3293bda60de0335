"""Sanity-check a topology YAML with plain pyyaml, independent of the router's loader.

Checks references (hubs, accelerators, link endpoints), the one place-name namespace,
that every region links to every site, and that no multi-hop path beats a direct link
(so the latencies in the file are the ones the router will use). Prints the latency
matrix from each region to each site (min-latency path, networkx Dijkstra) and the
card-hour price of each accelerator type east vs west.

Usage: python topology/tools/check_topology.py [topology/china-edwc.yaml]
Exit status 1 if any check fails.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import networkx as nx
import yaml

DEFAULT = Path(__file__).resolve().parents[1] / "china-edwc.yaml"


def problems_in(doc: dict[str, Any]) -> list[str]:
    """Every broken reference or missing link, as readable lines."""
    out: list[str] = []
    accs = {a["name"] for a in doc["accelerators"]}
    hubs = {h["name"]: h["zone"] for h in doc["hubs"]}
    places: list[str] = []
    for kind in ("regions", "exchanges", "sites"):
        for i, p in enumerate(doc.get(kind) or []):
            places.append(p["name"])
            if p["hub"] not in hubs:
                out.append(f"{kind}[{i}].hub: unknown hub {p['hub']}")
    dupes = {n for n in places if places.count(n) > 1}
    if dupes:
        out.append(f"place names used twice: {sorted(dupes)}")
    for i, s in enumerate(doc["sites"]):
        for j, pool in enumerate(s["pools"]):
            if pool["accelerator"] not in accs:
                out.append(f"sites[{i}].pools[{j}]: unknown accelerator {pool['accelerator']}")
    known = set(places)
    pairs = set()
    for i, link in enumerate(doc["links"]):
        for end in ("a", "b"):
            if link[end] not in known:
                out.append(f"links[{i}].{end}: unknown place {link[end]}")
        pairs.add(frozenset((link["a"], link["b"])))
    for r in doc["regions"]:
        for s in doc["sites"]:
            if frozenset((r["name"], s["name"])) not in pairs:
                out.append(f"no link {r['name']} - {s['name']}")
    return out


def graph_of(doc: dict[str, Any]) -> nx.Graph:
    """Undirected graph of the up links, weighted by latency."""
    g = nx.Graph()
    for link in doc["links"]:
        if link.get("status", "up") == "up":
            g.add_edge(link["a"], link["b"], latency_ms=float(link["latency_ms"]))
    return g


def main() -> int:
    """Run the checks and print the tables."""
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    problems = problems_in(doc)
    zone = {h["name"]: h["zone"] for h in doc["hubs"]}
    g = graph_of(doc)
    sites = doc["sites"]
    print(
        f"{path}: {len(doc['accelerators'])} accelerators, {len(doc['hubs'])} hubs, "
        f"{len(doc['regions'])} regions, {len(sites)} sites, {len(doc['links'])} links"
    )
    direct = {frozenset((lk["a"], lk["b"])): float(lk["latency_ms"]) for lk in doc["links"]}
    header = "region      " + " ".join(f"{s['name'][:8]:>8}" for s in sites)
    print("\none-way latency ms, min-latency path (* = west site)")
    print(" " * 12 + " ".join(f"{'*' if zone[s['hub']] == 'west' else ' ':>8}" for s in sites))
    print(header)
    for r in doc["regions"]:
        dist = nx.single_source_dijkstra_path_length(g, r["name"], weight="latency_ms")
        row = []
        for s in sites:
            best = dist.get(s["name"], float("inf"))
            d = direct.get(frozenset((r["name"], s["name"])), float("inf"))
            if best < d - 1e-9:
                problems.append(f"{r['name']} - {s['name']}: path {best:.1f} ms beats link {d}")
            row.append(f"{best:8.1f}")
        print(f"{r['name']:<12}" + " ".join(row))
    print("\neast regions to west sites, one-way ms: min / max")
    for r in doc["regions"]:
        dist = nx.single_source_dijkstra_path_length(g, r["name"], weight="latency_ms")
        west = [dist[s["name"]] for s in sites if zone[s["hub"]] == "west"]
        print(f"  {r['name']:<10} {min(west):5.1f} / {max(west):5.1f}")
    prices: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for s in sites:
        for p in s["pools"]:
            prices[p["accelerator"]][zone[s["hub"]]].append(float(p["price_cny_per_hour"]))
            counts[p["accelerator"]][zone[s["hub"]]] += int(p["count"])
    print("\ncard-hour price CNY (min-max) and device count, east | west, west saving vs east")
    for acc in (a["name"] for a in doc["accelerators"]):
        e, w = prices[acc]["east"], prices[acc]["west"]
        es = f"{min(e):5.2f}-{max(e):5.2f} x{counts[acc]['east']:5d}" if e else " " * 18
        ws = f"{min(w):5.2f}-{max(w):5.2f} x{counts[acc]['west']:5d}" if w else " " * 18
        saving = ""
        if e and w:
            saving = f"{1 - max(w) / min(e):4.0%} - {1 - min(w) / max(e):4.0%}"
        print(f"  {acc:<17} {es} | {ws}  {saving}")
    if problems:
        print("\nPROBLEMS:")
        for p in problems:
            print("  " + p)
        return 1
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
