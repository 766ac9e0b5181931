"""Group commit: many concurrent callers, one transaction (and one fsync) per batch.

The first caller to find no batch in flight becomes the writer and drains what has queued; the others
wait for their batch to commit. Every caller returns only once its item is durable (or gets the
batch's error), so a caller never answers before its write is committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommitter(Generic[T, R]):
    """`write(items)` persists a batch in one transaction and returns one result per item."""

    def __init__(self, write: Callable[[list[T]], Awaitable[list[R]]], *, max_batch: int = 1000) -> None:
        self._write = write
        self._max = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._busy = False

    async def submit(self, item: T) -> R:
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, fut))
        if not self._busy:
            self._busy = True
            try:
                while not fut.done():
                    await self._flush()
            finally:
                self._busy = False
                if self._queue:
                    # Hand over: whoever queued meanwhile is waiting on a writer.
                    self._busy = True
                    asyncio.get_running_loop().create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        try:
            while self._queue:
                await self._flush()
        finally:
            self._busy = False

    async def _flush(self) -> None:
        batch, self._queue = self._queue[: self._max], self._queue[self._max :]
        if not batch:
            return
        try:
            results = await self._write([item for item, _ in batch])
        except BaseException as exc:  # every waiter learns the batch failed, then the writer re-raises
            for _, f in batch:
                if not f.done():
                    f.set_exception(exc if isinstance(exc, Exception) else RuntimeError("batch cancelled"))
            if not isinstance(exc, Exception):
                raise
            return
        for (_, f), r in zip(batch, results, strict=True):
            if not f.done():
                f.set_result(r)
