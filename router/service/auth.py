"""Who is calling and may they: identity, roles and rate limits, as one server interceptor.

A caller proves who it is with `authorization: Bearer <token>` (looked up by its sha256)
or, with mTLS, by a SAN of its client certificate. No or unknown credentials:
UNAUTHENTICATED; a role without the right: PERMISSION_DENIED; over its rate:
RESOURCE_EXHAUSTED with google.rpc.QuotaFailure and RetryInfo. Health and reflection stay
open. The call log (router.service.metrics) gets the caller's tenant. The servicer reads
the caller with `current_caller()` (None: the server runs without --auth).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar, Token
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from router.model.jobs import Job
from router.service.metrics import note_call
from router.service.ratelimit import RateLimiter
from router.service.tenants import Role, Tenant, Tenants
from router.state.ledger import RequestKey

SERVICE = "router.v1.RouterService"
_ALL = frozenset(Role)
_RESERVING = frozenset({Role.ADMIN, Role.TENANT})
ALLOWED: dict[str, frozenset[Role]] = {
    "Place": _RESERVING,
    "Route": _RESERVING,
    "Release": _RESERVING,
    "ListReservations": _RESERVING,
    "WatchPlacements": _RESERVING,
    "GetTopology": _ALL,
    "WhatIf": _ALL,
    "ListOffers": _ALL,
    "UpdateSite": frozenset({Role.ADMIN}),
    "ReloadTopology": frozenset({Role.ADMIN}),
}
"""The roles that may call each RouterService method (a method not listed: admin only)."""

_caller: ContextVar[Tenant | None] = ContextVar("westward_caller", default=None)
if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]


def current_caller() -> Tenant | None:
    """The authenticated caller of the RPC being served (None without --auth)."""
    return _caller.get()


def sees_everything(caller: Tenant | None) -> bool:
    """Whether the caller may see and end every tenant's reservations."""
    return caller is None or caller.role is Role.ADMIN


class Refused(Exception):
    """A call refused before it reached the servicer, with the status to answer."""

    def __init__(self, status: grpc.Status) -> None:
        super().__init__(status.details)
        self.status = status


def identify(
    tenants: Tenants, metadata: tuple[tuple[str, str | bytes], ...], context: Any
) -> Tenant:
    """The tenant a call's bearer token or client certificate names (Refused if none)."""
    header = next((v for k, v in metadata if k == "authorization"), None)
    if header is not None:
        text = header.decode("latin-1") if isinstance(header, bytes) else header
        scheme, _, token = text.partition(" ")
        tenant = tenants.by_token(token.strip()) if scheme.lower() == "bearer" else None
        if tenant is None:
            raise Refused(_status(code_pb2.UNAUTHENTICATED, "unknown or malformed bearer token"))
        return tenant
    sans = [s.decode("utf-8", "replace") for s in _auth_context(context)]
    tenant = tenants.by_cert_san(sans)
    if tenant is None:
        why = "no credentials: send authorization: Bearer <token> or a known client certificate"
        raise Refused(_status(code_pb2.UNAUTHENTICATED, why))
    return tenant


def authorize(tenant: Tenant, method: str) -> None:
    """Refused (PERMISSION_DENIED) unless the tenant's role may call `method`."""
    if tenant.role not in ALLOWED.get(method, frozenset({Role.ADMIN})):
        why = f"{tenant.name} ({tenant.role.value}) may not call {method}"
        raise Refused(_status(code_pb2.PERMISSION_DENIED, why))


def rate_limited(tenant: Tenant, wait_s: float) -> Refused:
    """RESOURCE_EXHAUSTED with QuotaFailure (which limit) and RetryInfo (when to come back)."""
    failure = error_details_pb2.QuotaFailure(
        violations=[
            error_details_pb2.QuotaFailure.Violation(
                subject=f"tenant:{tenant.name}",
                description=f"rate limit {tenant.rate_limit_per_s:g} calls/s (burst of 2 s)",
            )
        ]
    )
    seconds = math.floor(wait_s)
    retry = error_details_pb2.RetryInfo(
        retry_delay=duration_pb2.Duration(
            seconds=seconds, nanos=max(1_000_000, int((wait_s - seconds) * 1e9))
        )
    )
    why = f"{tenant.name} is over its rate limit; retry in {wait_s:.3f} s"
    return Refused(_status(code_pb2.RESOURCE_EXHAUSTED, why, failure, retry))


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Authenticate, authorize and rate-limit every RouterService call; log each one."""

    def __init__(self, tenants: Tenants, limiter: RateLimiter | None = None) -> None:
        self._tenants = tenants
        self._limiter = limiter or RateLimiter()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(details)
        service, _, method = details.method.lstrip("/").partition("/")
        if handler is None or service != SERVICE:
            return handler  # health and reflection stay open
        metadata = tuple(details.invocation_metadata or ())
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, metadata, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(method, metadata, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _admit(self, method: str, metadata: Any, context: Any) -> Tenant:
        """The caller, once it may make this call now (Refused if not); its name goes on
        the call's log line (router.service.metrics)."""
        tenant = identify(self._tenants, metadata, context)
        note_call(tenant=tenant.name)
        authorize(tenant, method)
        if tenant.rate_limit_per_s is not None:
            wait_s = self._limiter.take(tenant.name, tenant.rate_limit_per_s)
            if wait_s > 0:
                raise rate_limited(tenant, wait_s)
        return tenant

    async def _enter(self, method: str, metadata: Any, context: Any) -> Token[Tenant | None]:
        """Admit the call (ending it with the refusal's status if refused) and make its
        tenant the current caller; reset the returned token when the call ends."""
        try:
            tenant = self._admit(method, metadata, context)
        except Refused as refused:
            await context.abort_with_status(refused.status)
            raise  # abort_with_status raises; this keeps the type checker sure of it
        return _caller.set(tenant)

    def _unary(self, method: str, metadata: Any, behavior: Any) -> Any:
        async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            token = await self._enter(method, metadata, context)
            try:
                return await behavior(request, context)
            finally:
                _caller.reset(token)

        return call

    def _stream(self, method: str, metadata: Any, behavior: Any) -> Any:
        async def call(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            token = await self._enter(method, metadata, context)
            try:
                async for item in behavior(request, context):
                    yield item
            finally:
                _caller.reset(token)

        return call


def _auth_context(context: Any) -> list[bytes]:
    try:
        found: list[bytes] = context.auth_context().get("x509_subject_alternative_name", [])
    except Exception:  # no transport security: no certificate
        return []
    return found


def _status(code: int, message: str, *details: Any) -> grpc.Status:
    packed = []
    for detail in details:
        box = any_pb2.Any()
        box.Pack(detail)
        packed.append(box)
    status: grpc.Status = rpc_status.to_status(
        status_pb2.Status(code=code, message=message, details=packed)
    )
    return status


def caller_tenant() -> str:
    """The calling tenant's name ("" without --auth): its reservations carry it."""
    caller = current_caller()
    return caller.name if caller is not None else ""


def caller_owner() -> str | None:
    """Whose reservations the caller may see and end (None: everyone's)."""
    caller = current_caller()
    return None if caller is None or sees_everything(caller) else caller.name


def scoped(key: RequestKey | None, tenant: str) -> RequestKey | None:
    """A tenant's idempotency key: another tenant's request_id is never its answer."""
    return key if key is None or not tenant else replace(key, method=f"{tenant}/{key.method}")


def owned_spec(spec: dict[str, Any], tenant: str) -> dict[str, Any]:
    """A job spec as the caller's: its tenant is whoever calls (none without --auth)."""
    return {**spec, "tenant": tenant} if tenant else spec


def owned(job: Job, spec: dict[str, Any], tenant: str) -> tuple[Job, dict[str, Any]]:
    """A parsed job and its spec as the caller's (`owned_spec`)."""
    return (replace(job, tenant=tenant), owned_spec(spec, tenant)) if tenant else (job, spec)
