"""CPU-bound work off the event loop: a small pool of worker processes with a time budget per job.

Why processes and not threads: a job such as pyHanko's signature validation is pure Python, so a
thread holds the GIL most of the time (measured with a 60-field attack PDF: the event loop lagged up
to 70 ms per tick with one such thread, and each further thread adds its share), and a thread that
overruns its budget cannot be stopped — it burns CPU until it finishes. A process can be stopped.

The budget is enforced twice: inside the worker an interval timer interrupts the job (pure-Python
work stops at the next bytecode), and if the worker does not answer by then (stuck in C code) the
parent kills the pool's processes and starts afresh. Jobs waiting beyond `max_pending` are refused at
once rather than queued without bound. Workers fork from a forkserver: they do not inherit the
parent's event loop, threads or database connections, and the job's module is imported once there.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")

# Time the parent allows beyond the budget for the worker to notice its timer and answer.
_GRACE_SECONDS = 2.0


class BudgetExceeded(Exception):
    """The job did not finish within its time budget (it was stopped)."""


class PoolBusy(Exception):
    """Too many jobs are already waiting; the caller should refuse and ask the client to retry."""


class _Deadline(BaseException):
    """Raised inside the worker by the timer. A BaseException, so that a library's `except Exception`
    cannot swallow it and carry on."""


@dataclass(frozen=True)
class _Overran:
    seconds: float


def _on_alarm(_signum: int, _frame: FrameType | None) -> None:
    raise _Deadline


def _guarded(fn: Callable[..., Any], args: tuple[Any, ...], seconds: float) -> Any:
    """Runs in the worker process: `fn(*args)` with an interval timer that interrupts it."""
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return fn(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Deadline:
        return _Overran(seconds)
    finally:
        signal.signal(signal.SIGALRM, previous)


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


class ProcessPool:
    """Built once per process (the web runtime); worker processes start on the first job only, so
    commands that never use the pool pay nothing."""

    def __init__(self, *, workers: int = 2, max_pending: int | None = None, max_tasks_per_child: int = 100):
        self.workers = max(1, workers)
        self.max_pending = max_pending if max_pending is not None else 2 * self.workers
        self.max_tasks_per_child = max_tasks_per_child
        self._executor: ProcessPoolExecutor | None = None
        self._pending = 0
        self._closed = False

    def _get(self, fn: Callable[..., Any]) -> ProcessPoolExecutor:
        if self._executor is None:
            ctx = _context()
            if ctx.get_start_method() == "forkserver":
                # Only effective before the forkserver starts: its workers then fork with the job's
                # module (and its heavy imports) already loaded.
                ctx.set_forkserver_preload([fn.__module__])
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=ctx, max_tasks_per_child=self.max_tasks_per_child
            )
        return self._executor

    def _kill(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        processes = list(getattr(executor, "_processes", {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for p in processes:
            with contextlib.suppress(Exception):
                p.kill()

    async def run(self, fn: Callable[..., T], *args: Any, budget: float) -> T:
        """`fn(*args)` in a worker (fn and args must pickle). BudgetExceeded past `budget` seconds
        (enforced in the worker, where asyncio.timeout cannot reach); PoolBusy when `max_pending` jobs
        are already in the pool."""
        if self._closed:
            raise PoolBusy("the pool is closed")
        if self._pending >= self.max_pending:
            raise PoolBusy("too many jobs waiting")
        self._pending += 1
        try:
            executor = self._get(fn)
            future = asyncio.get_running_loop().run_in_executor(executor, _guarded, fn, args, budget)
            # A job may first wait for a free worker: the queue ahead of it is at most
            # max_pending / workers budgets long.
            wait = budget * (1 + self.max_pending / self.workers) + _GRACE_SECONDS
            try:
                result = await asyncio.wait_for(future, wait)
            except TimeoutError:
                self._kill()
                raise BudgetExceeded from None
            except BrokenProcessPool:
                self._kill()
                raise PoolBusy("a worker process died") from None
        finally:
            self._pending -= 1
        if isinstance(result, _Overran):
            raise BudgetExceeded
        return result  # type: ignore[no-any-return]

    async def close(self) -> None:
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)
