"""The PostgreSQL ledger's schema, its versioned migrations, and connections that fail well.

The server creates and migrates the schema itself: `schema_version` holds the version
applied, and each step of `MIGRATIONS` runs once, under an advisory lock, so replicas
starting together do not race. Errors from the driver become westward errors: a lost
connection or a server that does not answer is UNAVAILABLE (retryable, the SDK retries
with the same request_id), a serialization failure or deadlock is retried here.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool, PoolTimeout

from router.errors import FieldProblem, InvalidInputError, ServiceUnavailableError

T = TypeVar("T")

URL_SCHEMES = ("postgresql://", "postgres://")
EVENTS_CHANNEL = "westward_events"
TOPOLOGY_CHANNEL = "westward_topology"
OUTBOX_LOCK = 0x77657374  # pg_advisory_xact_lock key: outbox rows are numbered in commit order
MIGRATION_LOCK = 0x77657375
RETRIES = 6
"""Serialization failures and deadlocks are retried this often, with jittered backoff."""

MIGRATIONS: tuple[str, ...] = (
    # 1: the ledger (float unix seconds, as in SQLite, so records round-trip exactly).
    """
    CREATE TABLE pools (
        site text NOT NULL,
        pool_index integer NOT NULL,
        capacity integer NOT NULL CHECK (capacity >= 0),
        used integer NOT NULL DEFAULT 0,
        listed boolean NOT NULL DEFAULT true,
        PRIMARY KEY (site, pool_index)
    );
    CREATE TABLE reservations (
        seq bigserial UNIQUE,
        reservation_id text PRIMARY KEY,
        job text NOT NULL,
        site text NOT NULL,
        pool_index integer NOT NULL,
        count integer NOT NULL CHECK (count > 0),
        spec jsonb NOT NULL,
        details jsonb NOT NULL,
        state text NOT NULL,
        request_id text NOT NULL,
        created_unix_s double precision NOT NULL,
        ended_unix_s double precision,
        expires_unix_s double precision
    );
    CREATE INDEX reservations_active_site ON reservations (site) WHERE state = 'active';
    CREATE INDEX reservations_due ON reservations (expires_unix_s)
        WHERE state = 'active' AND expires_unix_s IS NOT NULL;
    CREATE TABLE requests (
        request_id text PRIMARY KEY,
        answer bytea NOT NULL,
        created_unix_s double precision NOT NULL
    );
    CREATE TABLE history (
        seq bigserial PRIMARY KEY,
        time_unix_s double precision NOT NULL,
        event text NOT NULL,
        reservation_id text NOT NULL,
        site text NOT NULL,
        pool_index integer NOT NULL,
        delta integer NOT NULL,
        used_after integer NOT NULL,
        capacity integer NOT NULL
    );
    CREATE TABLE events (
        seq bigserial PRIMARY KEY,
        time_unix_s double precision NOT NULL,
        payload jsonb NOT NULL
    );
    CREATE TABLE site_changes (site text PRIMARY KEY, change jsonb NOT NULL);
    CREATE TABLE topology (
        id integer PRIMARY KEY CHECK (id = 1),
        version bigint NOT NULL,
        document jsonb
    );
    INSERT INTO topology (id, version, document) VALUES (1, 0, NULL);
    """,
    # 2: answers bound to the request body; request_id holds "Method/id" (ids are per
    # method); the outbox is trimmed by time
    """
    ALTER TABLE requests ADD COLUMN body_hash text NOT NULL DEFAULT '';
    CREATE INDEX events_time ON events (time_unix_s);
    """,
    # 3: reservations carry their tenant (servers with --auth; docs/security.md)
    """
    ALTER TABLE reservations ADD COLUMN tenant text NOT NULL DEFAULT '';
    CREATE INDEX reservations_tenant ON reservations (tenant, state);
    """,
)


def is_postgres_url(state: str) -> bool:
    """Whether a --state value names a PostgreSQL database rather than a SQLite file."""
    return state.startswith(URL_SCHEMES)


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def open_pool(url: str, *, max_size: int = 8, timeout_s: float = 5.0) -> ConnectionPool:
    """A connection pool to `url`, opened and checked; InvalidInputError names --state."""
    try:  # one plain connection first: its error says what is wrong (the pool's only retries)
        psycopg.connect(url, connect_timeout=max(1, int(timeout_s))).close()
    except psycopg.Error as exc:
        raise InvalidInputError(
            [FieldProblem("--state", f"cannot connect to {redacted(url)}: {exc}".strip())]
        ) from None
    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        timeout=timeout_s,
        kwargs={
            "autocommit": True,
            "connect_timeout": max(1, int(timeout_s)),
            "application_name": "westward",
        },
        open=False,
        name="westward-ledger",
    )
    try:
        pool.open(wait=True, timeout=timeout_s)
    except (PoolTimeout, psycopg.Error) as exc:
        pool.close()
        raise InvalidInputError(
            [FieldProblem("--state", f"cannot connect to {redacted(url)}: {exc}")]
        ) from None
    return pool


def migrate(pool: ConnectionPool) -> int:
    """Bring the database up to the newest schema; returns the version it is at."""

    def work(conn: psycopg.Connection[tuple[Any, ...]]) -> int:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            current = int(row[0]) if row and row[0] is not None else 0
            if current > len(MIGRATIONS):
                raise InvalidInputError(
                    [
                        FieldProblem(
                            "--state",
                            f"the database has schema version {current}; this westward "
                            f"knows up to {len(MIGRATIONS)} (upgrade westward)",
                        )
                    ]
                )
            for version in range(current + 1, len(MIGRATIONS) + 1):
                conn.execute(MIGRATIONS[version - 1].encode())
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
            return len(MIGRATIONS)

    return run(pool, work)


def run(pool: ConnectionPool, work: Callable[[psycopg.Connection[tuple[Any, ...]]], T]) -> T:
    """`work(connection)` with retries on serialization failures and deadlocks.

    `work` opens its own transaction; a retry runs it again from the start. A connection
    that is lost, refused or not free in time ends the call with ServiceUnavailableError.
    """
    for attempt in range(RETRIES):
        try:
            with pool.connection() as conn:
                return work(conn)
        except (pg_errors.SerializationFailure, pg_errors.DeadlockDetected):
            if attempt == RETRIES - 1:
                raise ServiceUnavailableError(
                    "the ledger stayed contended (serialization failures); try again"
                ) from None
            time.sleep(random.uniform(0, 0.005 * 2**attempt))
        except PoolTimeout:
            raise ServiceUnavailableError(
                "no ledger connection became free in time; try again"
            ) from None
        except psycopg.OperationalError as exc:
            raise ServiceUnavailableError(f"the ledger database is unavailable ({exc})") from None
    raise AssertionError("unreachable")  # pragma: no cover
