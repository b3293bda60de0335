"""The topology (with free devices) and site updates."""

from __future__ import annotations

from collections.abc import Mapping

from router.errors import FieldProblem, InvalidInputError
from router.model.topology import Accelerator, Exchange, Hub, Link, Pool, Region, Site, Topology
from router.results import (
    SiteUpdateResult,
    TopologyView,
)
from router.service.convert.enums import (
    STATUS_PREFIX,
    ZONE_PREFIX,
    enum_name,
    enum_value,
)
from router.service.convert.plans import event_from, event_message
from router.state.site_changes import PoolChange, SiteChange
from router.v1 import router_pb2 as pb

# --- topology and site updates ----------------------------------------------------------


def site_message(site: Site, free: Mapping[tuple[str, int], int]) -> pb.Site:
    """Proto form of a site, with each pool's free devices."""
    return pb.Site(
        name=site.name,
        hub=site.hub,
        provider=site.provider,
        status=pb.Status.ValueType(enum_value(pb.Status, STATUS_PREFIX, site.status, "status")),
        pue=site.pue,
        electricity_cny_per_kwh=site.electricity_cny_per_kwh,
        carbon_g_per_kwh=site.carbon_g_per_kwh,
        lat=site.lat,
        lon=site.lon,
        pools=[
            pb.Pool(
                pool_index=i,
                accelerator=p.accelerator,
                count=p.count,
                price_cny_per_hour=p.price_cny_per_hour,
                free_count=free.get((site.name, i), 0),
            )
            for i, p in enumerate(site.pools)
        ],
    )


def site_from(m: pb.Site) -> Site:
    """Domain form of a site."""
    return Site(
        name=m.name,
        hub=m.hub,
        provider=m.provider,
        lat=m.lat,
        lon=m.lon,
        status=enum_name(pb.Status, STATUS_PREFIX, m.status),
        pue=m.pue,
        electricity_cny_per_kwh=m.electricity_cny_per_kwh,
        carbon_g_per_kwh=m.carbon_g_per_kwh,
        pools=tuple(Pool(p.accelerator, p.count, p.price_cny_per_hour) for p in m.pools),
    )


def topology_message(view: TopologyView) -> pb.Topology:
    """Proto form of the live topology and its free devices."""
    t = view.topology
    return pb.Topology(
        name=t.name,
        accelerators=[
            pb.Accelerator(
                name=a.name,
                vendor=a.vendor,
                stack=a.stack,
                memory_gb=a.memory_gb,
                tdp_kw=a.tdp_kw,
                training=a.training,
                tflops=dict(a.tflops),
            )
            for a in t.accelerators.values()
        ],
        hubs=[
            pb.Hub(
                name=h.name,
                title=h.title,
                zone=pb.Zone.ValueType(enum_value(pb.Zone, ZONE_PREFIX, h.zone, "zone")),
            )
            for h in t.hubs.values()
        ],
        regions=[
            pb.Region(name=r.name, hub=r.hub, lat=r.lat, lon=r.lon) for r in t.regions.values()
        ],
        exchanges=list(t.exchanges),
        sites=[site_message(s, view.free) for s in t.sites.values()],
        links=[
            pb.Link(
                a=ln.a,
                b=ln.b,
                latency_ms=ln.latency_ms,
                bandwidth_gbps=ln.bandwidth_gbps,
                price_cny_per_gb=ln.price_cny_per_gb,
                status=pb.Status.ValueType(
                    enum_value(pb.Status, STATUS_PREFIX, ln.status, "status")
                ),
            )
            for ln in t.links
        ],
    )


def topology_from(m: pb.Topology) -> TopologyView:
    """Domain form of a topology (exchanges come back without coordinates)."""
    sites = {s.name: site_from(s) for s in m.sites}
    topology = Topology(
        name=m.name,
        accelerators={
            a.name: Accelerator(
                a.name, a.vendor, a.stack, a.memory_gb, a.tdp_kw, a.training, dict(a.tflops)
            )
            for a in m.accelerators
        },
        hubs={
            h.name: Hub(h.name, h.title, enum_name(pb.Zone, ZONE_PREFIX, h.zone)) for h in m.hubs
        },
        regions={r.name: Region(r.name, r.hub, r.lat, r.lon) for r in m.regions},
        exchanges={x: Exchange(x, "", 0.0, 0.0) for x in m.exchanges},
        sites=sites,
        links=tuple(
            Link(
                ln.a,
                ln.b,
                ln.latency_ms,
                ln.bandwidth_gbps,
                ln.price_cny_per_gb,
                enum_name(pb.Status, STATUS_PREFIX, ln.status),
            )
            for ln in m.links
        ),
    )
    free = {(s.name, p.pool_index): p.free_count for s in m.sites for p in s.pools}
    return TopologyView(topology, free)


def site_change(m: pb.UpdateSiteRequest) -> SiteChange:
    """The domain change an UpdateSite request asks for."""
    if not m.site:
        raise InvalidInputError([FieldProblem("site", "is required (a site name)")])
    status = enum_name(pb.Status, STATUS_PREFIX, m.status)
    if status.startswith("unknown"):
        raise InvalidInputError(
            [FieldProblem("status", f"must be up, drain or down, got {m.status}")]
        )
    return SiteChange(
        site=m.site,
        status=status or None,
        pools=tuple(
            PoolChange(
                p.pool_index,
                p.count if p.HasField("count") else None,
                p.price_cny_per_hour if p.HasField("price_cny_per_hour") else None,
            )
            for p in m.pools
        ),
        electricity_cny_per_kwh=(
            m.electricity_cny_per_kwh if m.HasField("electricity_cny_per_kwh") else None
        ),
    )


def update_request(change: SiteChange) -> pb.UpdateSiteRequest:
    """Proto form of a site change."""
    msg = pb.UpdateSiteRequest(
        site=change.site,
        status=pb.Status.ValueType(
            enum_value(pb.Status, STATUS_PREFIX, change.status or "", "status")
        ),
    )
    for pc in change.pools:
        pool = msg.pools.add(pool_index=pc.pool_index)
        if pc.count is not None:
            pool.count = pc.count
        if pc.price_cny_per_hour is not None:
            pool.price_cny_per_hour = pc.price_cny_per_hour
    if change.electricity_cny_per_kwh is not None:
        msg.electricity_cny_per_kwh = change.electricity_cny_per_kwh
    return msg


def update_response(
    result: SiteUpdateResult, free: Mapping[tuple[str, int], int]
) -> pb.UpdateSiteResponse:
    """Proto form of an UpdateSite answer."""
    return pb.UpdateSiteResponse(
        site=site_message(result.site, free),
        moved=[event_message(e) for e in result.moved],
        evicted=[event_message(e) for e in result.evicted],
    )


def update_result(m: pb.UpdateSiteResponse) -> SiteUpdateResult:
    """Domain form of an UpdateSite answer."""
    return SiteUpdateResult(
        site_from(m.site),
        [event_from(e) for e in m.moved],
        [event_from(e) for e in m.evicted],
    )
