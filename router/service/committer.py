"""Group commit for Route: concurrent commits share one ledger transaction (one fsync)."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor

from router.errors import (
    RouterError,
)
from router.state.engine import Engine, Proposal


class GroupCommitter:
    """Route commits, batched: while one ledger transaction is being written (and fsynced),
    the next batch fills up, so a burst of N Routes costs a few fsyncs instead of N."""

    def __init__(self, engine: Engine, executor: ThreadPoolExecutor, max_batch: int = 256) -> None:
        self._engine = engine
        self._executor = executor
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[Proposal, asyncio.Future[bytes]]] | None = None
        self._task: asyncio.Task[None] | None = None

    async def commit(self, proposal: Proposal) -> bytes:
        """The stored answer for `proposal`; raises CapacityError like Engine.commit."""
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.create_task(self._run(self._queue))
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((proposal, future))
        return await future

    async def _run(self, queue: asyncio.Queue[tuple[Proposal, asyncio.Future[bytes]]]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            while len(batch) < self._max_batch and not queue.empty():
                batch.append(queue.get_nowait())
            proposals = [p for p, _ in batch]
            try:
                results = await loop.run_in_executor(
                    self._executor, self._engine.commit_many, proposals
                )
            except Exception as exc:  # the ledger failed: every caller in the batch learns it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, RouterError):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def close(self) -> None:
        """Stop batching (pending callers are cancelled)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
