"""westward Python SDK quickstart: route one job, plan a batch, watch, release.

westward serve --listen 127.0.0.1:50051 &
python examples/sdk/quickstart.py 127.0.0.1:50051
"""

from __future__ import annotations

import sys

from router.client import RouterClient
from router.errors import InvalidInputError

CHAT = {
    "name": "chat-serving",
    "kind": "inference",
    "origin": "shanghai",
    "max_latency_ms": 40,
    "accelerators": {"count": 2, "types": ["A800"]},
    "hours": 8,
}
TRAIN = {
    "name": "pretrain-7b",
    "kind": "training",
    "origin": "shanghai",
    "max_latency_ms": 100,
    "accelerators": {"count": 16, "types": ["A800"]},
    "hours": 48,
    "data_gb": 2000,
}


def main(address: str) -> int:
    with RouterClient(address) as client:
        print("health:", client.health())

        routed = client.route(CHAT)  # reserves at once; retries reuse the request id
        if routed.reservation is not None:
            where = routed.reservation.placement
            print(f"routed {where.job} -> {where.site} ({where.zone}), {where.cost_cny:.0f} CNY")
        else:
            assert routed.unplaced is not None
            print(f"unplaced: {routed.unplaced.reason}")

        plan = client.plan([TRAIN])  # dry run: plans, reserves nothing
        for p in plan.placements:
            print(f"plan {p.job} -> {p.site} ({p.zone}) {p.latency_ms:.0f} ms {p.cost_cny:.0f} CNY")
        print(f"savings vs staying east: {plan.savings_cny:.0f} CNY")

        try:
            client.route({**CHAT, "accelerators": {"count": 0, "types": ["A800"]}})
        except InvalidInputError as exc:
            print("rejected:", "; ".join(str(p) for p in exc.problems))

        for reservation in client.list_reservations():
            client.release(reservation.reservation_id)
            print("released", reservation.placement.job)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"))
