"""Protobuf <-> domain: the only hand-written module that touches router.v1 messages.

Jobs cross the wire in the same shape as a jobs YAML file, so the server turns a
proto Job into that mapping and validates it with router.model.jobs.parse_jobs: files and
requests share one set of rules and one set of field paths (`jobs[3].accelerators.count`).
"""

from __future__ import annotations

from router.service.convert.enums import serialize
from router.service.convert.jobs import job_entry, job_message, job_spec, rebase
from router.service.convert.offers import (
    offer_pages,
    offers_from_pages,
    offers_page,
    offers_request,
)
from router.service.convert.plans import (
    event_from,
    event_message,
    place_response,
    place_result,
    placement_from,
    placement_message,
    plan_from,
    plan_message,
    reservation_from,
    reservation_message,
    route_response,
    route_result,
    unplaced_from,
    unplaced_message,
)
from router.service.convert.topology import (
    site_change,
    site_from,
    site_message,
    topology_from,
    topology_message,
    update_request,
    update_response,
    update_result,
)
from router.service.convert.whatif import (
    reload_response,
    reload_result,
    scenario_entries,
    scenario_message,
    whatif_response,
    whatif_result,
)
from router.v1 import router_pb2 as pb
from router.v1 import router_pb2_grpc as pb_grpc

__all__ = [
    "event_from",
    "event_message",
    "job_entry",
    "job_message",
    "job_spec",
    "offer_pages",
    "offers_from_pages",
    "offers_page",
    "offers_request",
    "pb",
    "pb_grpc",
    "place_response",
    "place_result",
    "placement_from",
    "placement_message",
    "plan_from",
    "plan_message",
    "rebase",
    "reload_response",
    "reload_result",
    "reservation_from",
    "reservation_message",
    "route_response",
    "route_result",
    "scenario_entries",
    "scenario_message",
    "serialize",
    "site_change",
    "site_from",
    "site_message",
    "topology_from",
    "topology_message",
    "unplaced_from",
    "unplaced_message",
    "update_request",
    "update_response",
    "update_result",
    "whatif_response",
    "whatif_result",
]
