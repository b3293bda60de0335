"""Load for the durability tests: a killable `westward serve` process, client threads that
record every acknowledged answer, and checks of a state file against what was acknowledged.
"""

from __future__ import annotations

import json
import random
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from router.client import RouterClient
from router.errors import InvalidInputError, RouterError
from router.state.pg_schema import is_postgres_url
from router.state.store import audit_state
from router.v1 import router_pb2 as pb
from tests.tools import REPO_ROOT

TYPES = (["A800"], ["A800", "Ascend910B"], ["Ascend910B", "A800"])
RECONNECT_FAST = (
    ("grpc.use_local_subchannel_pool", 1),  # a fresh client does not inherit a backoff
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 300),
)
"""Channel options for a server that restarts every second: reconnect at once."""


def client(address: str) -> RouterClient:
    """An SDK client that reconnects quickly to a restarted server."""
    return RouterClient(address, options=RECONNECT_FAST)


def free_port() -> int:
    """A loopback port free right now (the server is restarted on the same one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServeProcess:
    """`westward serve` on 127.0.0.1:port with its JSON log in a file (never a full pipe)."""

    def __init__(
        self,
        state: Path | str,
        topology: Path,
        port: int,
        log: Path,
        *,
        max_file_bytes: int | None = None,
    ) -> None:
        self.state, self.topology, self.port, self.log = state, topology, port, log
        self.max_file_bytes = max_file_bytes
        """RLIMIT_FSIZE for the server: writes past it fail as on a full disk."""
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> ServeProcess:
        """Start and wait for its `serving` log line."""
        skip = self.log.read_text().count('"serving"') if self.log.exists() else 0
        # preexec_fn makes Python run in the forked child: unsafe while client threads run
        limits = self._limits if self.max_file_bytes is not None else None
        with self.log.open("a") as sink:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "router.cli", "serve", "--topology", str(self.topology),
                    "--listen", f"127.0.0.1:{self.port}", "--state", str(self.state),
                    "--grace", "2",
                ],
                cwd=REPO_ROOT, stderr=sink, stdout=subprocess.DEVNULL, preexec_fn=limits,
            )  # fmt: skip
        self.wait_for("serving", skip)
        return self

    def _limits(self) -> None:
        if self.max_file_bytes is not None:
            size = self.max_file_bytes
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    def lines(self) -> list[dict[str, Any]]:
        """Every JSON log line so far (all runs on this log file)."""
        text = self.log.read_text() if self.log.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    def wait_for(self, msg: str, seen: int = 0, timeout_s: float = 30.0) -> dict[str, Any]:
        """The first log line saying `msg` after `seen` earlier ones."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = [entry for entry in self.lines() if entry["msg"] == msg]
            if len(found) > seen:
                return found[seen]
            assert self.process is not None and self.process.poll() is None, self.log.read_text()
            time.sleep(0.05)
        raise AssertionError(f"no {msg!r} in {self.log.read_text()}")

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs at all."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> int:
        """SIGTERM and wait; the exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(20)


def job(rng: random.Random, name: str) -> dict[str, Any]:
    """A small training job from Shanghai that fits the west (zhongwei) or the east."""
    return {
        "name": name,
        "kind": "training",
        "origin": "shanghai",
        "max_latency_ms": 50,
        "accelerators": {"count": rng.randint(1, 6), "types": rng.choice(TYPES)},
        "hours": rng.randint(1, 8),
    }


@dataclass
class Record:
    """What the server acknowledged to the clients, and what they never heard back about."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    held: dict[str, tuple[str, str, int, int]] = field(default_factory=dict)
    """Acknowledged reservation id -> (request_id, site, pool_index, count)."""
    answers: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    sent: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """request_id -> the jobs it sent (a retry sends the same body)."""
    """Acknowledged request_id -> (kind, reservation ids in the answer)."""
    released: set[str] = field(default_factory=set)
    """Reservations whose Release was acknowledged."""
    maybe_released: set[str] = field(default_factory=set)
    """Reservations whose Release got no answer yet or ever (it may have happened)."""
    unknown: dict[str, tuple[str, list[dict[str, Any]]]] = field(default_factory=dict)
    """request_id -> (kind, jobs) of Route / Place calls that got no answer."""
    ops: int = 0
    failures: int = 0
    full: int = 0
    """Route / Place answers that reserved nothing (every fitting pool was full)."""

    def acked(self) -> dict[str, tuple[str, str, int, int]]:
        with self.lock:
            return dict(self.held)


class Driver(threading.Thread):
    """One client issuing Route / Place / Release until stopped; records every answer."""

    def __init__(
        self,
        address: str,
        record: Record,
        stop: threading.Event,
        seed: int,
        max_ops: int,
        place_share: float = 0.15,
        release_share: float = 0.3,
    ) -> None:
        super().__init__(daemon=True)
        self.address, self.record, self.stop, self.max_ops = address, record, stop, max_ops
        self.rng = random.Random(seed)
        self.seed = seed
        self.place_share, self.release_share = place_share, release_share
        self.mine: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with client(self.address) as c:
                for n in range(self.max_ops):
                    if self.stop.is_set():
                        return
                    self.one(c, f"{self.seed}-{n}")
        except BaseException as exc:  # reported by the test, never swallowed
            self.error = exc

    def one(self, client: RouterClient, tag: str) -> None:
        r = self.rng.random()
        request_id = f"req-{tag}"
        if r < self.release_share and self.mine:
            rid = self.mine.pop(self.rng.randrange(len(self.mine)))
            with self.record.lock:
                self.record.maybe_released.add(rid)  # until the answer arrives
            try:
                client.release(rid, timeout_s=2)
            except RouterError:
                with self.record.lock:
                    self.record.failures += 1
                return
            with self.record.lock:
                self.record.maybe_released.discard(rid)
                self.record.released.add(rid)
                self.record.ops += 1
            return
        if r < self.release_share + self.place_share:
            jobs = [job(self.rng, f"b{tag}-{i}") for i in range(self.rng.randint(2, 3))]
            kind = "place"
        else:
            jobs = [job(self.rng, f"r{tag}")]
            kind = "route"
        try:
            if kind == "place":
                placed = client.place(jobs, request_id=request_id, time_limit_s=0.3, timeout_s=3)
                got = [(r.reservation_id, r.placement) for r in placed.reservations]
            else:
                routed = client.route(jobs[0], request_id=request_id, timeout_s=2)
                res = routed.reservation
                got = [] if res is None else [(res.reservation_id, res.placement)]
        except RouterError:
            with self.record.lock:
                self.record.unknown[request_id] = (kind, jobs)
                self.record.failures += 1
            return
        with self.record.lock:
            self.record.ops += 1
            self.record.full += not got
            self.record.answers[request_id] = (kind, [rid for rid, _ in got])
            self.record.sent[request_id] = jobs
            for rid, p in got:
                self.record.held[rid] = (request_id, p.site, p.pool_index, p.count)
        self.mine += [rid for rid, _ in got]


def check_state_file(
    state: Path | str, record: Record, moved: Collection[str] = ()
) -> dict[str, int]:
    """Everything acknowledged is in the file (or PostgreSQL URL), nothing was ever
    overbooked, batches whole.

    Reservations in `moved` were re-placed by a site update (their pool changed).

    Works on a dead server's file (SQLite replays the WAL exactly as a restart would).
    Returns counts of what it checked.
    """
    result = audit_state(str(state))
    assert result.overbooked == [], result.overbooked[:5]
    assert result.mismatched == [], result.mismatched[:5]
    url = str(state)
    db: Any = psycopg.connect(url) if is_postgres_url(url) else sqlite3.connect(url)
    try:
        rows = {
            rid: (request_id, site, int(index), int(count), status)
            for rid, request_id, site, index, count, status in db.execute(
                "SELECT reservation_id, request_id, site, pool_index, count, state "
                "FROM reservations"
            ).fetchall()
        }
        stored = {  # ids are scoped to their method in the store: "Route/req-1"
            key.split("/", 1)[1]: bytes(answer)
            for key, answer in db.execute("SELECT request_id, answer FROM requests").fetchall()
        }
        capacity = {
            (site, int(index)): int(cap)
            for site, index, cap in db.execute(
                "SELECT site, pool_index, capacity FROM pools"
            ).fetchall()
        }
    finally:
        db.close()
    with record.lock:
        held = dict(record.held)
        released = set(record.released)
        maybe = set(record.maybe_released)
        kinds = {rid: kind for rid, (kind, _) in record.answers.items()}
        kinds.update({rid: kind for rid, (kind, _) in record.unknown.items()})
    for rid, (request_id, site, index, count) in held.items():
        assert rid in rows, f"acknowledged reservation {rid} lost"
        where = (site, index) if rid not in moved else rows[rid][1:3]
        assert rows[rid][:4] == (request_id, *where, count), (rid, rows[rid], held[rid])
        state_now = rows[rid][4]
        if rid in released:
            assert state_now in ("released", "evicted"), (rid, state_now)
        elif rid not in maybe:
            assert state_now in ("active", "evicted"), (rid, state_now)
    by_request: dict[str, set[str]] = {}
    for rid, (request_id, *_rest) in rows.items():
        by_request.setdefault(request_id, set()).add(rid)
    for request_id, kind in kinds.items():  # each request reserved exactly its stored answer
        if request_id not in stored:
            assert request_id not in by_request, f"{request_id} reserved without an answer"
            continue
        message = pb.PlaceResponse() if kind == "place" else pb.RouteResponse()
        message.ParseFromString(stored[request_id])
        if isinstance(message, pb.PlaceResponse):
            answered = {r.reservation_id for r in message.reservations}
        else:
            has = message.HasField("reservation")
            answered = {message.reservation.reservation_id} if has else set()
        assert by_request.get(request_id, set()) == answered, request_id
    used: dict[tuple[str, int], int] = {}
    for _rid, (_req, site, index, count, status) in rows.items():
        if status == "active":
            used[(site, index)] = used.get((site, index), 0) + count
    for pool, count in used.items():
        assert count <= capacity.get(pool, 0), f"{pool} holds {count} of {capacity.get(pool)}"
    return {
        "reservations": len(rows),
        "acknowledged": len(held),
        "history": result.changes,
        "requests": len(stored),
    }


def check_live(client: RouterClient, record: Record) -> None:
    """The server's free counts are capacity minus live reservations; retries answer alike."""
    view = client.get_topology()
    listed = client.list_reservations(include_ended=True)
    active: dict[tuple[str, int], int] = {}
    for r in listed:
        if r.state == "active":
            key = (r.placement.site, r.placement.pool_index)
            active[key] = active.get(key, 0) + r.placement.count
    for name, site in view.topology.sites.items():
        for index, pool in enumerate(site.pools):
            count = 0 if site.status == "down" else pool.count
            assert view.free[(name, index)] == max(0, count - active.get((name, index), 0))
    with record.lock:
        answers = dict(record.answers)
        unknown = dict(record.unknown)
        sent = dict(record.sent)
    for request_id, (kind, rids) in list(answers.items())[:: max(1, len(answers) // 40)]:
        jobs = sent[request_id]
        if kind == "route":
            again = client.route(jobs[0], request_id=request_id)
            ids = [] if again.reservation is None else [again.reservation.reservation_id]
            with pytest.raises(InvalidInputError):  # the same id with another body
                client.route(_any_job(), request_id=request_id)
        else:
            placed = client.place(jobs, request_id=request_id, time_limit_s=0.3)
            ids = [r.reservation_id for r in placed.reservations]
        assert ids == rids, f"retry of {request_id} answered differently"
    ids_now = {r.reservation_id for r in listed}
    for request_id, (kind, jobs) in unknown.items():  # an unanswered call, retried
        if kind == "route":
            again = client.route(jobs[0], request_id=request_id, timeout_s=5)
            got = [] if again.reservation is None else [again.reservation]
        else:
            got = client.place(jobs, request_id=request_id, time_limit_s=0.3).reservations
        with record.lock:
            record.answers[request_id] = (kind, [r.reservation_id for r in got])
            record.sent[request_id] = jobs
            for r in got:
                p = r.placement
                record.held[r.reservation_id] = (request_id, p.site, p.pool_index, p.count)
                if r.reservation_id in ids_now:
                    assert r.request_id == request_id
            del record.unknown[request_id]


def _any_job() -> dict[str, Any]:
    """A job no retry sent: the same request_id with it is the caller's mistake."""
    return {
        "name": "retry",
        "kind": "training",
        "origin": "shanghai",
        "max_latency_ms": 50,
        "accelerators": {"count": 1, "types": ["A800"]},
        "hours": 1,
    }
