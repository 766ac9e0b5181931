"""Group commit: many small writes from concurrent requests, one transaction (and one fsync) per batch.

A request that must not answer before its row is durable (a personal-data access-log entry, an exchange
message log entry) calls `submit(rows)` and waits. Rows that arrive while a batch is being committed
wait for the next batch, so under load each commit carries the rows of every request that came in
during the previous one: the database's one writer and its fsync are shared instead of queued for.

`submit` returns only after the transaction holding the rows has committed; if the commit fails, it
raises, and the caller must not answer as though the write happened. A failed batch is retried one
submission at a time, so one bad submission fails alone and the others still commit.

No background task outlives its work: the first submission finding the writer idle starts a flusher
task, which runs until nothing is pending and then ends. Nothing needs starting or stopping, and the
writer works under any event loop that calls it (one flusher per writer at a time).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from dgov.kernel.uow import Database, UnitOfWork

T = TypeVar("T")

WriteBatch = Callable[[UnitOfWork, list[T]], Awaitable[None]]


@dataclass
class _Submission(Generic[T]):
    rows: list[T]
    done: asyncio.Future[None]


@dataclass
class GroupCommitStats:
    """Counters for benchmarks and tests: how many rows went in how many transactions."""

    rows: int = 0
    batches: int = 0
    largest_batch: int = 0
    failed_submissions: int = 0


@dataclass
class GroupCommitWriter(Generic[T]):
    """Writes rows with `write(uow, rows)` inside one unit of work per batch, then commits it.

    `max_rows` bounds a batch (a transaction's size and the time its lock is held); submissions beyond
    it wait for the next batch. A single submission larger than `max_rows` still goes in whole: its
    rows belong together."""

    db: Database
    write: WriteBatch[T]
    max_rows: int = 1000
    stats: GroupCommitStats = field(default_factory=GroupCommitStats)
    _pending: deque[_Submission[T]] = field(default_factory=deque)
    _flusher: asyncio.Task[None] | None = None

    async def submit(self, rows: Sequence[T]) -> None:
        """Returns once `rows` are committed; raises what the write or the commit raised."""
        if not rows:
            return
        loop = asyncio.get_running_loop()
        sub = _Submission(list(rows), loop.create_future())
        self._pending.append(sub)
        flusher = self._flusher
        if flusher is None or flusher.done() or flusher.get_loop() is not loop:
            self._flusher = loop.create_task(self._flush_all(), name="group-commit")
        await sub.done

    async def _flush_all(self) -> None:
        batch: list[_Submission[T]] = []
        try:
            while self._pending:
                batch = self._take()
                try:
                    await self._commit(batch)
                except Exception:  # noqa: BLE001 — the batch worker's boundary: retried one by one below
                    await self._one_by_one(batch)
                else:
                    _settle(batch, None)
        except BaseException:
            # Cancelled (the loop is shutting down): nobody may believe their rows were written.
            _settle([*batch, *self._pending], RuntimeError("group commit stopped before committing"))
            self._pending.clear()
            raise

    def _take(self) -> list[_Submission[T]]:
        taken: list[_Submission[T]] = []
        count = 0
        while self._pending and (not taken or count + len(self._pending[0].rows) <= self.max_rows):
            sub = self._pending.popleft()
            taken.append(sub)
            count += len(sub.rows)
        return taken

    async def _commit(self, batch: list[_Submission[T]]) -> None:
        rows = [row for sub in batch for row in sub.rows]
        async with self.db.uow() as uow:
            await self.write(uow, rows)
            await uow.commit()
        self.stats.rows += len(rows)
        self.stats.batches += 1
        self.stats.largest_batch = max(self.stats.largest_batch, len(rows))

    async def _one_by_one(self, batch: list[_Submission[T]]) -> None:
        for sub in batch:
            try:
                await self._commit([sub])
            except Exception as exc:  # noqa: BLE001 — the worker's boundary: re-raised in the submitter
                self.stats.failed_submissions += 1
                _settle([sub], exc)
            else:
                _settle([sub], None)


def _settle(subs: Sequence[_Submission[T]], error: BaseException | None) -> None:
    for sub in subs:
        if sub.done.done():
            continue  # the submitter gave up waiting (cancelled); its rows are written all the same
        if error is None:
            sub.done.set_result(None)
        else:
            sub.done.set_exception(error)
