"""`westward serve`: the service as a process: JSON logs, signals, graceful shutdown.

SIGTERM / SIGINT stop it gracefully; SIGHUP reloads the topology file (reservations kept,
the ones the new topology cannot hold are logged; a broken file is logged and ignored).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from router.errors import FieldProblem, InvalidInputError, RouterError
from router.model.topology import Topology, default_topology, load_topology
from router.service.metrics import serve_metrics
from router.service.server import DEFAULT_GRACE_S, ListenError, create_server
from router.service.servicer import RouterServicer, log
from router.service.tenants import Tenants, load_tenants
from router.service.tls import ServerCertificates, TlsFiles, check_exposure
from router.state.ledger import Ledger
from router.state.store import open_ledger

ANSWER_KEEP_S = 7 * 24 * 3600.0
"""Stored Place/Route answers older than this are dropped at start (retries are quicker)."""


@dataclass(frozen=True)
class Access:
    """Who may connect and call: TLS certificates and the tenants file (either optional)."""

    tenants: Tenants | None = None
    certificates: ServerCertificates | None = None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, message and any `extra` fields."""

    _STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in self._STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """Structured (JSON lines) logs on stderr for the westward loggers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("westward")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def serve(
    *,
    topology_path: str | Path | None = None,
    listen: str = "127.0.0.1:50051",
    state_path: str | Path = "westward-state.sqlite",
    grace_s: float = DEFAULT_GRACE_S,
    auth_path: str | Path | None = None,
    tls: TlsFiles | None = None,
    insecure: bool = False,
    metrics_listen: str | None = None,
) -> int:
    """Run `westward serve` until SIGTERM or SIGINT, then shut down gracefully; exit status.

    With `metrics_listen` (host:port), Prometheus metrics are served there at /metrics;
    `auth_path`, `tls` and `insecure` are docs/security.md's `--auth`, TLS and `--insecure`.
    """
    check_exposure(listen, tls=tls is not None, auth=auth_path is not None, insecure=insecure)
    tenants = load_tenants(auth_path) if auth_path is not None else None
    certificates = ServerCertificates(tls) if tls is not None else None
    configure_logging()
    topology = load_topology(topology_path) if topology_path else default_topology()
    ledger = open_ledger(str(state_path))  # a SQLite file, or PostgreSQL for replicas
    forgotten = ledger.forget_answers(time.time() - ANSWER_KEEP_S)
    if forgotten:
        log.info("forgot old request answers", extra={"count": forgotten})
    try:
        source = partial(load_topology, topology_path) if topology_path else default_topology
        access = Access(tenants, certificates)
        asyncio.run(_serve(listen, topology, ledger, grace_s, source, metrics_listen, access))
    except ListenError as exc:
        raise InvalidInputError([FieldProblem("--listen", str(exc))]) from None
    finally:
        ledger.close()
    _abandon_running_work()
    return 0


def _abandon_running_work() -> None:
    """Exit now if a solve outlived the grace period: its call was cancelled, so its commit
    would be refused anyway, and waiting for the worker thread (as Python's exit does)
    would keep a SIGTERM from stopping the server in time."""
    workers = [t for t in threading.enumerate() if t.name.startswith("westward-")]
    until = time.monotonic() + 0.5  # idle workers are ending on their own: let them
    for worker in workers:
        worker.join(max(0.0, until - time.monotonic()))
    busy = [t.name for t in workers if t.is_alive()]
    if busy:
        log.warning("abandoning work still running after the grace period", extra={"threads": busy})
        logging.shutdown()
        os._exit(0)


async def _serve(
    listen: str,
    topology: Topology,
    ledger: Ledger,
    grace_s: float,
    source: Callable[[], Topology],
    metrics_listen: str | None,
    access: Access,
) -> None:
    certificates = access.certificates
    server, port = create_server(
        listen,
        topology=topology,
        ledger=ledger,
        topology_source=source,
        metrics=metrics_listen is not None,
        credentials=certificates.credentials() if certificates is not None else None,
        tenants=access.tenants,
    )
    stop_metrics = None
    serving: dict[str, Any] = {}
    if server.metrics is not None and metrics_listen is not None:
        try:
            metrics_port, stop_metrics = serve_metrics(metrics_listen, server.metrics)
        except InvalidInputError:
            await server.stop(0)
            raise
        serving["metrics_port"] = metrics_port
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    reloads: set[asyncio.Future[None]] = set()
    loop.add_signal_handler(signal.SIGHUP, lambda: _reload(server.servicer, reloads, certificates))
    await server.start()
    unheld = server.engine.unheld()
    if unheld:  # e.g. the topology file changed while the server was down
        log.warning(
            "reservations the topology cannot hold",
            extra={
                "unheld": [
                    {"reservation_id": u.reservation.reservation_id, "reason": u.reason}
                    for u in unheld
                ]
            },
        )
    host = listen.rsplit(":", 1)[0]
    log.info(
        "serving",
        extra={
            "address": f"{host}:{port}",
            "port": port,
            "topology": topology.name,
            "sites": len(topology.sites),
            "tls": "mtls" if certificates and certificates.files.client_ca else bool(certificates),
            "tenants": len(access.tenants.tenants) if access.tenants is not None else None,
            **serving,
        },
    )
    await stopping.wait()
    log.info("shutting down", extra={"grace_s": grace_s})
    await server.stop(grace_s)
    if stop_metrics is not None:
        stop_metrics()
    log.info("stopped")


def _reload(
    servicer: RouterServicer,
    pending: set[asyncio.Future[None]],
    certificates: ServerCertificates | None,
) -> None:
    """SIGHUP: reload the topology off the event loop (a bad file is logged, not fatal)
    and the TLS certificates at the next handshake."""
    if certificates is not None:
        certificates.reload()

    def work() -> None:
        try:
            servicer.reload_topology()
        except RouterError as exc:
            log.error("topology reload failed", extra={"error": str(exc), "kept": "old topology"})

    future = asyncio.get_running_loop().run_in_executor(None, work)
    pending.add(future)
    future.add_done_callback(pending.discard)
