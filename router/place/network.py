"""The topology as a graph: minimum-latency paths and what they cost, cached per origin."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import networkx as nx

from router.model.topology import Topology


@dataclass(frozen=True, slots=True)
class Path:
    """The minimum-latency path from an origin to a site, with its figures."""

    places: tuple[str, ...]
    links: tuple[int, ...]  # indices into Topology.links, in path order
    latency_ms: float
    bottleneck_gbps: float
    transfer_cny_per_gb: float


class Network:
    """Graph view of a topology over the links that are up.

    Paths are computed once per origin (one Dijkstra gives every site) and kept, so
    planning thousands of jobs from a handful of regions stays cheap.
    """

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.graph: nx.Graph = nx.Graph()
        self.graph.add_nodes_from(topology.places)
        for index, link in enumerate(topology.links):
            if link.status == "up":
                self.graph.add_edge(
                    link.a,
                    link.b,
                    latency_ms=link.latency_ms,
                    bandwidth_gbps=link.bandwidth_gbps,
                    price_cny_per_gb=link.price_cny_per_gb,
                    index=index,
                )
        self._paths: dict[str, dict[str, Path]] = {}

    def paths_from(self, origin: str) -> dict[str, Path]:
        """Minimum-latency paths from `origin` to every site it can reach."""
        cached = self._paths.get(origin)
        if cached is None:
            cached = self._compute(origin)
            self._paths[origin] = cached
        return cached

    def path(self, origin: str, site: str) -> Path | None:
        """The minimum-latency path from `origin` to `site`, or None if unreachable."""
        return self.paths_from(origin).get(site)

    def _compute(self, origin: str) -> dict[str, Path]:
        latencies, node_paths = nx.single_source_dijkstra(self.graph, origin, weight="latency_ms")
        result = {}
        for site in self.topology.sites:
            if site not in node_paths:
                continue
            places = tuple(node_paths[site])
            edges = [self.graph.edges[u, v] for u, v in itertools.pairwise(places)]
            result[site] = Path(
                places=places,
                links=tuple(e["index"] for e in edges),
                latency_ms=float(latencies[site]),
                bottleneck_gbps=min((e["bandwidth_gbps"] for e in edges), default=float("inf")),
                transfer_cny_per_gb=sum(e["price_cny_per_gb"] for e in edges),
            )
        return result
