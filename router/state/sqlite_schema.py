"""The SQLite state file's tables, and migrations of older files (PRAGMA user_version)."""

from __future__ import annotations

import sqlite3

from router.errors import FieldProblem, InvalidInputError
from router.state.sqlite_quotas import TENANT_USE

SCHEMA = """
CREATE TABLE IF NOT EXISTS pools (
    site TEXT NOT NULL,
    pool_index INTEGER NOT NULL,
    capacity INTEGER NOT NULL CHECK (capacity >= 0),
    PRIMARY KEY (site, pool_index)
);
CREATE TABLE IF NOT EXISTS reservations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    reservation_id TEXT NOT NULL UNIQUE,
    job TEXT NOT NULL,
    site TEXT NOT NULL,
    pool_index INTEGER NOT NULL,
    count INTEGER NOT NULL CHECK (count > 0),
    spec TEXT NOT NULL,
    details TEXT NOT NULL,
    state TEXT NOT NULL,
    request_id TEXT NOT NULL,
    created_unix_s REAL NOT NULL,
    ended_unix_s REAL,
    expires_unix_s REAL,
    tenant TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS reservations_active ON reservations (state, site, pool_index);
CREATE INDEX IF NOT EXISTS reservations_tenant ON reservations (tenant, state);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time_unix_s REAL NOT NULL,
    event TEXT NOT NULL,
    reservation_id TEXT NOT NULL,
    site TEXT NOT NULL,
    pool_index INTEGER NOT NULL,
    delta INTEGER NOT NULL,
    used_after INTEGER NOT NULL,
    capacity INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pool_use (
    site TEXT NOT NULL,
    pool_index INTEGER NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (site, pool_index)
);
CREATE TABLE IF NOT EXISTS site_changes (
    site TEXT PRIMARY KEY,
    change TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY,
    body_hash TEXT NOT NULL DEFAULT '',
    answer BLOB NOT NULL,
    created_unix_s REAL NOT NULL
);
"""


SCHEMA_VERSION = 4
"""PRAGMA user_version of this schema; `_migrate` brings older files up to it."""

_MIGRATIONS = {
    1: "ALTER TABLE reservations ADD COLUMN expires_unix_s REAL",  # version 1 -> 2
    2: "ALTER TABLE requests ADD COLUMN body_hash TEXT NOT NULL DEFAULT ''",  # 2 -> 3
    3: "ALTER TABLE reservations ADD COLUMN tenant TEXT NOT NULL DEFAULT ''",  # 3 -> 4
}


def migrate(db: sqlite3.Connection) -> None:
    """Bring a state file written by an older version up to this schema, step by step.

    A new file gets the whole schema at the current version. Files from before
    user_version was kept say 0: they are version 2 if they have expiries, else 1.
    """
    (version,) = db.execute("PRAGMA user_version").fetchone()
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'reservations'"
    ).fetchone()
    if not exists:
        db.executescript(SCHEMA + TENANT_USE)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return
    if version == 0:
        try:
            db.execute("SELECT expires_unix_s FROM reservations LIMIT 0")
            version = 2
        except sqlite3.OperationalError:
            version = 1
    if version > SCHEMA_VERSION:
        raise InvalidInputError(
            [FieldProblem("--state", f"written by a newer westward (schema {version})")]
        )
    while version < SCHEMA_VERSION:
        db.execute(_MIGRATIONS[version])
        version += 1
        db.execute(f"PRAGMA user_version = {version}")
    db.executescript(SCHEMA)  # tables added since (CREATE ... IF NOT EXISTS)
    db.executescript(TENANT_USE)  # tenants' holdings, recounted from the rows
