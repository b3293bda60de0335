"""Choosing the store from `--state`, auditing it, and moving a SQLite ledger to PostgreSQL.

A `postgresql://` or `postgres://` URL names a PostgreSQL database shared by replicas;
anything else is the path of the embedded SQLite file.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import psycopg

from router.errors import FieldProblem, InvalidInputError
from router.state.audit import Audit, audit, replay
from router.state.ledger import Ledger
from router.state.pg_schema import is_postgres_url, redacted
from router.state.postgres import PostgresLedger
from router.state.sqlite import SqliteLedger


def open_ledger(state: str) -> Ledger:
    """The ledger `--state` names: PostgreSQL for a URL, else a SQLite file (created)."""
    if is_postgres_url(state):
        return PostgresLedger(state)
    try:
        return SqliteLedger(state)
    except sqlite3.Error as exc:
        raise InvalidInputError([FieldProblem("--state", f"cannot open {state}: {exc}")]) from None


def audit_state(state: str) -> Audit:
    """`ledger audit` on either store: replay history, independently of the ledger."""
    if is_postgres_url(state):
        PostgresLedger(state).close()  # connects (clear errors) and migrates an old schema
        with psycopg.connect(state) as conn:  # one snapshot, even while replicas commit
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            return replay(conn)
    if not Path(state).is_file():
        raise InvalidInputError([FieldProblem("--state", f"no state file {state}")])
    try:
        return audit(state)
    except sqlite3.DatabaseError as exc:
        problem = f"{state} is not a westward state file ({exc})"
        raise InvalidInputError([FieldProblem("--state", problem)]) from None


@dataclass(frozen=True)
class Migrated:
    """What `migrate` copied."""

    reservations: int
    history: int
    requests: int
    site_changes: int
    pools: int


_COPIED = ("reservations", "history", "requests", "site_changes", "pools", "events")


def migrate(source: str, target: str, *, replace: bool = False) -> Migrated:
    """Copy a SQLite ledger into a PostgreSQL one, in one transaction.

    Reservations (every state), their history in order, stored answers and site changes
    all move, so audits and retries carry on. A target that holds anything is refused
    unless `replace` (then its ledger tables are emptied first).
    """
    if not is_postgres_url(target):
        raise InvalidInputError(
            [FieldProblem("--to", f"must be a postgresql:// URL, got {target!r}")]
        )
    if not Path(source).is_file():
        raise InvalidInputError([FieldProblem("--from", f"no SQLite state file {source}")])
    SqliteLedger(source).close()  # brings an old file up to the current schema
    PostgresLedger(target).close()  # creates or migrates the target's schema
    db = sqlite3.connect(source)
    try:
        reservations = db.execute(
            "SELECT reservation_id, job, site, pool_index, count, spec, details, state, "
            "request_id, created_unix_s, ended_unix_s, expires_unix_s, tenant FROM reservations "
            "ORDER BY seq"
        ).fetchall()
        history = db.execute(
            "SELECT time_unix_s, event, reservation_id, site, pool_index, delta, used_after, "
            "capacity FROM history ORDER BY seq"
        ).fetchall()
        requests = db.execute(
            "SELECT request_id, body_hash, answer, created_unix_s FROM requests"
        ).fetchall()
        changes = db.execute("SELECT site, change FROM site_changes").fetchall()
        capacity = {(s, i): c for s, i, c in db.execute("SELECT * FROM pools")}
        used = {(s, i): u for s, i, u in db.execute("SELECT * FROM pool_use")}
        pools = [  # a pool gone from the topology keeps a row while reservations hold it
            (s, i, capacity.get((s, i), 0), used.get((s, i), 0), (s, i) in capacity)
            for s, i in sorted(set(capacity) | set(used))
        ]
    finally:
        db.close()
    with psycopg.connect(target) as conn, conn.transaction():
        busy = [
            table
            for table in _COPIED[:4]
            if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table})".encode()).fetchone()
            != (False,)
        ]
        if busy and not replace:
            raise InvalidInputError(
                [
                    FieldProblem(
                        "--to",
                        f"{redacted(target)} already holds {', '.join(busy)}; "
                        "pass --replace to empty it first",
                    )
                ]
            )
        conn.execute(f"TRUNCATE {', '.join(_COPIED)} RESTART IDENTITY".encode())
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO reservations (reservation_id, job, site, pool_index, count, spec, "
                "details, state, request_id, created_unix_s, ended_unix_s, expires_unix_s, "
                "tenant) VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s, %s, %s, %s)",
                reservations,
            )
            cur.executemany(
                "INSERT INTO history (time_unix_s, event, reservation_id, site, pool_index, "
                "delta, used_after, capacity) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                history,
            )
            cur.executemany(
                "INSERT INTO requests (request_id, body_hash, answer, created_unix_s) "
                "VALUES (%s, %s, %s, %s)",
                [(rid, body, bytes(answer), at) for rid, body, answer, at in requests],
            )
            cur.executemany(
                "INSERT INTO site_changes (site, change) VALUES (%s, %s::jsonb)", changes
            )
            cur.executemany(
                "INSERT INTO pools (site, pool_index, capacity, used, listed) "
                "VALUES (%s, %s, %s, %s, %s)",
                pools,
            )
        if changes:  # replicas already running pick the site changes up
            conn.execute("UPDATE topology SET version = version + 1 WHERE id = 1")
    return Migrated(len(reservations), len(history), len(requests), len(changes), len(pools))
