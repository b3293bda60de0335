"""The client side of router.service.auth: TLS channel credentials, the bearer token, and
honouring a rate limit's RetryInfo (sleep as told, then try again, a bounded number of times).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from router.errors import FieldProblem, InvalidInputError

RATE_LIMIT_RETRIES = 3
"""Calls refused by a rate limit are tried again this many times at most."""
MAX_RETRY_WAIT_S = 5.0
"""A RetryInfo asking for a longer wait than this is not honoured: the error is raised."""
T = TypeVar("T")
Pem = str | Path | bytes
Metadata = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ClientTls:
    """TLS for a client: the CA to trust (None: the system's) and, for mTLS, a cert and key.

    Each is PEM bytes or the path of a PEM file.
    """

    ca: Pem | None = None
    cert: Pem | None = None
    key: Pem | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        """gRPC channel credentials for these files."""
        if (self.cert is None) != (self.key is None):
            raise InvalidInputError([FieldProblem("--cert", "needs --key, and the other way")])
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca, "--ca"),
            private_key=_read(self.key, "--key"),
            certificate_chain=_read(self.cert, "--cert"),
        )


def channel_credentials(tls: bool | ClientTls) -> grpc.ChannelCredentials | None:
    """Credentials for `tls`: False plaintext, True the system's CAs, or ClientTls."""
    if tls is False:
        return None
    return (ClientTls() if tls is True else tls).credentials()


def bearer(token: str | None) -> Metadata:
    """The call metadata that carries a bearer token (none without one)."""
    return (("authorization", f"Bearer {token}"),) if token else ()


def retry_delay_s(error: grpc.RpcError) -> float | None:
    """The wait a RESOURCE_EXHAUSTED answer asks for in its RetryInfo (None: not one)."""
    call: Any = error
    if call.code() is not grpc.StatusCode.RESOURCE_EXHAUSTED:
        return None
    try:
        status = rpc_status.from_call(call)
    except ValueError:
        return None
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return float(info.retry_delay.seconds + info.retry_delay.nanos / 1e9)
    return None


def _wait(error: grpc.RpcError, attempt: int) -> float | None:
    delay = retry_delay_s(error)
    if delay is None or attempt >= RATE_LIMIT_RETRIES or delay > MAX_RETRY_WAIT_S:
        return None
    return delay


def open_channel(
    module: Any, target: str, credentials: grpc.ChannelCredentials | None, options: Any
) -> Any:
    """A channel of `module` (grpc or grpc.aio): TLS with credentials, else plaintext."""
    if credentials is None:
        return module.insecure_channel(target, options=options)
    return module.secure_channel(target, credentials, options=options)


def retrying(stub: Callable[..., T], request: Any, timeout: float, metadata: Metadata) -> T:
    """Call a blocking stub; when a rate limit refuses it, wait as told and try again."""
    attempt = 0
    while True:
        try:
            return stub(request, timeout=timeout, metadata=metadata)
        except grpc.RpcError as exc:
            delay = _wait(exc, attempt)
            if delay is None:
                raise
        time.sleep(delay)
        attempt += 1


async def retrying_async(
    stub: Callable[..., Awaitable[T]], request: Any, timeout: float, metadata: Metadata
) -> T:
    """`retrying` for asyncio stubs."""
    attempt = 0
    while True:
        try:
            return await stub(request, timeout=timeout, metadata=metadata)
        except grpc.RpcError as exc:
            delay = _wait(exc, attempt)
            if delay is None:
                raise
        await asyncio.sleep(delay)
        attempt += 1


def _read(pem: Pem | None, option: str) -> bytes | None:
    if pem is None or isinstance(pem, bytes):
        return pem
    try:
        return Path(pem).read_bytes()
    except OSError as exc:
        raise InvalidInputError(
            [FieldProblem(option, f"cannot read {pem}: {exc.strerror}")]
        ) from None
