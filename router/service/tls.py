"""Transport security for `westward serve`: TLS, or mTLS with a client CA; reload on SIGHUP.

The credentials ask `ServerCertificates.fetch` at each new handshake; after `reload()`
(SIGHUP) it reads the files again, so renewed certificates are used by new connections
without a restart. A file that cannot be read at reload is logged and the old one kept.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from router.errors import FieldProblem, InvalidInputError

log = logging.getLogger("westward.service")


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files of `--tls-cert`, `--tls-key` and (for mTLS) `--client-ca`."""

    cert: Path
    key: Path
    client_ca: Path | None = None


class ServerCertificates:
    """The server's certificate configuration, read again after `reload()`."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        self._reload = threading.Event()
        self.initial = self._config()

    def credentials(self) -> grpc.ServerCredentials:
        """Server credentials that pick up reloaded certificates on new handshakes."""
        fetch: Any = self.fetch  # gRPC takes None as "unchanged"; its stubs say otherwise
        return grpc.dynamic_ssl_server_credentials(
            self.initial,
            fetch,
            require_client_authentication=self.files.client_ca is not None,
        )

    def reload(self) -> None:
        """Read the files again before the next handshake (SIGHUP)."""
        self._reload.set()

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """Called by gRPC per handshake: a new configuration after reload(), else None."""
        if not self._reload.is_set():
            return None
        self._reload.clear()
        try:
            config = self._config()
        except InvalidInputError as exc:
            log.error("certificate reload failed", extra={"error": str(exc), "kept": "old"})
            return None
        log.info("certificates reloaded", extra={"cert": str(self.files.cert)})
        return config

    def _config(self) -> grpc.ServerCertificateConfiguration:
        cert = _pem(self.files.cert, "--tls-cert", b"CERTIFICATE")
        key = _pem(self.files.key, "--tls-key", b"PRIVATE KEY")
        ca = None
        if self.files.client_ca is not None:
            ca = _pem(self.files.client_ca, "--client-ca", b"CERTIFICATE")
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=ca)


def _pem(path: Path, option: str, kind: bytes) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(
            [FieldProblem(option, f"cannot read {path}: {exc.strerror}")]
        ) from None
    if b"-----BEGIN " not in data or kind not in data:
        expected = kind.decode().lower()
        raise InvalidInputError(
            [FieldProblem(option, f"{path} is not a PEM file with a {expected}")]
        )
    return data


def is_loopback(address: str) -> bool:
    """Whether a host:port listens only on this machine (localhost, 127.x, ::1)."""
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(listen: str, *, tls: bool, auth: bool, insecure: bool) -> None:
    """Refuse a non-loopback address unless TLS and --auth protect it (or --insecure)."""
    if insecure or (tls and auth) or is_loopback(listen) or ":" not in listen:
        return  # (no port: not an address at all; binding it fails and says so)
    missing = " and ".join(
        name for name, given in (("--tls-cert/--tls-key", tls), ("--auth", auth)) if not given
    )
    raise InvalidInputError(
        [
            FieldProblem(
                "--listen",
                f"{listen} is reachable from other machines: give {missing}, "
                "listen on a loopback address, or pass --insecure",
            )
        ]
    )
