"""Every RouterService call's way in: decode, check bounds, and admit it within its budget.

The generated servicer registration would decode requests inside gRPC, where a bad byte
string becomes UNKNOWN; here each method takes raw bytes, so undecodable input is the
caller's INVALID_ARGUMENT. Unary calls share one concurrency budget; watch streams have
their own caps, per server and per peer, so idle watchers can never starve Route or
Release; Health and reflection are outside both budgets and always answered.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.message import DecodeError, Message

from router.errors import RouterError
from router.service.convert import pb
from router.service.metrics import note_call
from router.service.requests import check_request
from router.service.status import status_of

SERVICE = pb.DESCRIPTOR.services_by_name["RouterService"]
DEFAULT_UNARY_BUDGET = 512
DEFAULT_WATCHERS = 1024
DEFAULT_WATCHERS_PER_PEER = 64

Context = grpc.aio.ServicerContext[Any, Any]


class Gate:
    """Admission for one server: counts unary calls in flight and open watch streams."""

    def __init__(
        self,
        unary_budget: int = DEFAULT_UNARY_BUDGET,
        watchers: int = DEFAULT_WATCHERS,
        watchers_per_peer: int = DEFAULT_WATCHERS_PER_PEER,
    ) -> None:
        self.unary_budget = unary_budget
        self.watchers = watchers
        self.watchers_per_peer = watchers_per_peer
        self._unary = 0  # only touched on the server's event loop: no lock needed
        self._watching: collections.Counter[str] = collections.Counter()

    def handler(self, servicer: object) -> grpc.GenericRpcHandler:
        """The RouterService handlers for `servicer`, each behind this gate."""
        handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
        for method in SERVICE.methods:
            decode = _decoder(message_factory.GetMessageClass(method.input_type))
            impl = getattr(servicer, method.name)
            if method.server_streaming:
                handlers[method.name] = grpc.unary_stream_rpc_method_handler(
                    self._stream(impl, decode), response_serializer=_serialize
                )
            else:
                handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                    self._call(impl, decode), response_serializer=_serialize
                )
        return grpc.method_handlers_generic_handler(SERVICE.full_name, handlers)

    def _call(
        self, impl: Callable[[Message, Context], Awaitable[Message]], decode: _Decode
    ) -> Callable[[bytes, Context], Awaitable[Message]]:
        async def behaviour(raw: bytes, context: Context) -> Message:
            request = await decode(raw, context)
            if self._unary >= self.unary_budget:
                await context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"server busy: {self._unary} calls in flight; retry with backoff",
                )
            self._unary += 1
            try:
                return await impl(request, context)
            finally:
                self._unary -= 1

        return behaviour

    def _stream(
        self, impl: Callable[[Message, Context], AsyncIterator[Message]], decode: _Decode
    ) -> Callable[[bytes, Context], AsyncIterator[Message]]:
        async def behaviour(raw: bytes, context: Context) -> AsyncIterator[Message]:
            request = await decode(raw, context)
            peer = _host(context.peer())
            if sum(self._watching.values()) >= self.watchers:
                await context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"too many watch streams on this server (at most {self.watchers})",
                )
            if self._watching[peer] >= self.watchers_per_peer:
                await context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"too many watch streams from {peer} (at most {self.watchers_per_peer})",
                )
            self._watching[peer] += 1
            try:
                async for answer in impl(request, context):
                    yield answer
            finally:
                self._watching[peer] -= 1
                if not self._watching[peer]:
                    del self._watching[peer]

        return behaviour


_Decode = Callable[[bytes, Context], Awaitable[Message]]


def _decoder(message_class: type[Message]) -> _Decode:
    async def decode(raw: bytes, context: Context) -> Message:
        try:
            request = message_class.FromString(raw)
        except (DecodeError, RuntimeWarning, ValueError) as exc:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"the request is not a valid {message_class.DESCRIPTOR.full_name}: {exc}",
            )
            raise AssertionError("abort returned") from None  # pragma: no cover
        note_call(request_id=getattr(request, "request_id", None))  # for the call's log line
        try:
            check_request(request)
        except RouterError as exc:
            await context.abort_with_status(status_of(exc))
        return request

    return decode


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def _host(peer: str) -> str:
    """A peer without its port ("ipv4:127.0.0.1:53411" -> "ipv4:127.0.0.1")."""
    return peer.rsplit(":", 1)[0] if peer.count(":") >= 2 else peer
