"""A topology as the document its YAML file holds, so replicas can share it through the store."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from router.model.topology import Topology


def topology_document(topology: Topology) -> dict[str, Any]:
    """The topology in its file shape: `parse_topology(topology_document(t))` equals t."""
    sites = []
    for site in topology.sites.values():
        entry = asdict(site)
        entry["pools"] = [asdict(pool) for pool in site.pools]
        sites.append(entry)
    accelerators = []
    for accelerator in topology.accelerators.values():
        entry = asdict(accelerator)
        entry["tflops"] = dict(accelerator.tflops)
        accelerators.append(entry)
    return {
        "version": 1,
        "name": topology.name,
        "accelerators": accelerators,
        "hubs": [asdict(hub) for hub in topology.hubs.values()],
        "regions": [asdict(region) for region in topology.regions.values()],
        "exchanges": [asdict(exchange) for exchange in topology.exchanges.values()],
        "sites": sites,
        "links": [asdict(link) for link in topology.links],
    }
