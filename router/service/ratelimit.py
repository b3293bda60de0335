"""Per-tenant token buckets: admission instead of a pause.

A tenant with `rate_limit_per_s: r` may make r calls a second on average and bursts of
2 s worth (2r calls); a call over it is refused with the time until a token is back, which
the server sends as google.rpc.RetryInfo.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

BURST_S = 2.0
"""A full bucket holds this many seconds of calls."""


class RateLimiter:
    """One token bucket per tenant name; safe to call from any thread."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # tenant -> (tokens, as of)

    def take(self, tenant: str, rate_per_s: float) -> float:
        """Take one token: 0.0 when the call may go ahead, else the seconds to wait."""
        capacity = max(1.0, rate_per_s * BURST_S)
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.get(tenant, (capacity, now))
            tokens = min(capacity, tokens + (now - then) * rate_per_s)
            if tokens >= 1.0:
                self._buckets[tenant] = (tokens - 1.0, now)
                return 0.0
            self._buckets[tenant] = (tokens, now)
            return (1.0 - tokens) / rate_per_s
