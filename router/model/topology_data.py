"""A Topology back in the shape of its YAML file (for merging additions and writing files)."""

from __future__ import annotations

from typing import Any

from router.model.topology import Link, Site, Topology


def topology_data(topology: Topology) -> dict[str, Any]:
    """The YAML-shaped mapping that parse_topology turns back into an equal Topology."""
    return {
        "version": 1,
        "name": topology.name,
        "accelerators": [
            {
                "name": a.name,
                "vendor": a.vendor,
                "stack": a.stack,
                "memory_gb": a.memory_gb,
                "tdp_kw": a.tdp_kw,
                "training": a.training,
                "tflops": dict(a.tflops),
            }
            for a in topology.accelerators.values()
        ],
        "hubs": [
            {"name": h.name, "title": h.title, "zone": h.zone} for h in topology.hubs.values()
        ],
        "regions": [
            {"name": r.name, "hub": r.hub, "lat": r.lat, "lon": r.lon}
            for r in topology.regions.values()
        ],
        "exchanges": [
            {"name": x.name, "hub": x.hub, "lat": x.lat, "lon": x.lon}
            for x in topology.exchanges.values()
        ],
        "sites": [site_data(s) for s in topology.sites.values()],
        "links": [link_data(ln) for ln in topology.links],
    }


def site_data(site: Site) -> dict[str, Any]:
    """One site in the topology file's shape."""
    return {
        "name": site.name,
        "hub": site.hub,
        "provider": site.provider,
        "lat": site.lat,
        "lon": site.lon,
        "status": site.status,
        "pue": site.pue,
        "electricity_cny_per_kwh": site.electricity_cny_per_kwh,
        "carbon_g_per_kwh": site.carbon_g_per_kwh,
        "pools": [
            {
                "accelerator": p.accelerator,
                "count": p.count,
                "price_cny_per_hour": p.price_cny_per_hour,
            }
            for p in site.pools
        ],
    }


def link_data(link: Link) -> dict[str, Any]:
    """One link in the topology file's shape."""
    return {
        "a": link.a,
        "b": link.b,
        "latency_ms": link.latency_ms,
        "bandwidth_gbps": link.bandwidth_gbps,
        "price_cny_per_gb": link.price_cny_per_gb,
        "status": link.status,
    }
