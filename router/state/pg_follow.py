"""One replica's view of the others: tail the events outbox and the topology version.

LISTEN/NOTIFY only wakes the follower; the record is the outbox (rows numbered in commit
order) and the topology row's version, read after the last seen `seq` / version. A poll
every `poll_s` covers a lost notification, and after a lost connection the follower
reconnects and resumes from its last `seq`, so no event is skipped or repeated. Each
follower also deletes outbox rows older than OUTBOX_KEEP_S once a minute.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from router.state.pg_schema import EVENTS_CHANNEL, TOPOLOGY_CHANNEL, run

POLL_S = 0.5
BATCH = 1000
OUTBOX_KEEP_S = 3600.0
"""Outbox rows older than this are deleted (a watcher further behind has lost its stream)."""
TRIM_EVERY_S = 60.0
APPLICATION = "westward-follow"
"""The follower's application_name (pg_stat_activity shows one per replica)."""

log = logging.getLogger("westward.ledger")

EventRow = tuple[int, float, dict[str, Any]]
"""An outbox row: seq, time_unix_s, payload."""


class Follower:
    """A thread that hands outbox rows (in seq order) and topology changes to callbacks."""

    def __init__(
        self,
        url: str,
        pool: ConnectionPool,
        on_rows: Callable[[Sequence[EventRow]], None],
        on_topology: Callable[[], None],
        *,
        poll_s: float = POLL_S,
    ) -> None:
        self._url = url
        self._pool = pool
        self._on_rows = on_rows
        self._on_topology = on_topology
        self._poll_s = poll_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="westward-follow", daemon=True)
        self.last_seq = 0
        self._version = 0

    def start(self) -> None:
        """Follow from now on: events committed before this call are not delivered."""

        def now(conn: psycopg.Connection[tuple[Any, ...]]) -> tuple[int, int]:
            seq = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
            version = conn.execute("SELECT version FROM topology WHERE id = 1").fetchone()
            assert seq is not None and version is not None
            return int(seq[0]), int(version[0])

        self.last_seq, self._version = run(self._pool, now)
        self._thread.start()

    def stop(self) -> None:
        """Stop following (returns within about poll_s)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(5 * self._poll_s + 5)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                with psycopg.connect(
                    self._url, autocommit=True, connect_timeout=5, application_name=APPLICATION
                ) as conn:
                    conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                    conn.execute(f"LISTEN {TOPOLOGY_CHANNEL}")
                    trimmed = 0.0
                    while not self._stopping.is_set():
                        self._catch_up(conn)
                        if time.monotonic() - trimmed > TRIM_EVERY_S:  # any replica may
                            conn.execute(
                                "DELETE FROM events WHERE time_unix_s < %s",
                                (time.time() - OUTBOX_KEEP_S,),
                            )
                            trimmed = time.monotonic()
                        for _ in conn.notifies(timeout=self._poll_s, stop_after=1):
                            pass
            except psycopg.Error as exc:
                log.warning(
                    "lost the ledger connection; following again",
                    extra={"error": str(exc), "after_seq": self.last_seq},
                )
                self._stopping.wait(self._poll_s)
            except Exception:  # a callback failed: keep following, the next rows still come
                log.exception("following the ledger failed", extra={"after_seq": self.last_seq})
                self._stopping.wait(self._poll_s)

    def _catch_up(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        """Deliver the topology if its version moved, then every new outbox row."""
        row = conn.execute("SELECT version FROM topology WHERE id = 1").fetchone()
        version = 0 if row is None else int(row[0])
        if version != self._version:
            self._on_topology()
            self._version = version
        while True:
            rows = conn.execute(
                "SELECT seq, time_unix_s, payload FROM events WHERE seq > %s ORDER BY seq LIMIT %s",
                (self.last_seq, BATCH),
            ).fetchall()
            batch = [(int(s), float(t), dict(p)) for s, t, p in rows]
            self._on_rows(batch)
            if batch:
                self.last_seq = batch[-1][0]
            if len(batch) < BATCH:
                return
