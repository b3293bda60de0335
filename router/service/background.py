"""A router server on its own event-loop thread, for tests, benchmarks and tools.

with BackgroundServer(topology=t, ledger=ledger) as bg:
    RouterClient(f"127.0.0.1:{bg.port}")
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from router.service.server import RouterServer, create_server


class BackgroundServer:
    """A router server on its own event loop thread: for tests, benchmarks and tools.

    with BackgroundServer(topology=t, ledger=led) as bg: RouterClient(f"127.0.0.1:{bg.port}")
    """

    def __init__(self, address: str = "127.0.0.1:0", **options: Any) -> None:
        self._address = address
        self._options = options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.server: RouterServer | None = None
        self.port = 0

    def start(self) -> BackgroundServer:
        """Start the loop thread and the server on it."""
        self._thread.start()

        async def boot() -> tuple[RouterServer, int]:
            server, port = create_server(self._address, **self._options)
            await server.start()
            return server, port

        self.server, self.port = asyncio.run_coroutine_threadsafe(boot(), self._loop).result(30)
        return self

    def stop(self, grace_s: float = 1.0) -> None:
        """Stop the server gracefully, then the loop."""
        if self.server is not None:
            server = self.server
            self.server = None
            asyncio.run_coroutine_threadsafe(server.stop(grace_s), self._loop).result(grace_s + 30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
