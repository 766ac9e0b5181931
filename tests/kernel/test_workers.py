"""The worker pool for CPU-bound jobs: a job over its budget is stopped (the pool goes on), and a full
pool refuses at once instead of queueing without bound."""

from __future__ import annotations

import asyncio
import operator
import time

import pytest

from dgov.kernel.workers import BudgetExceeded, PoolBusy, ProcessPool


async def test_a_job_over_budget_is_stopped_and_the_pool_goes_on() -> None:
    pool = ProcessPool(workers=1, max_pending=2)
    try:
        assert await pool.run(operator.add, 2, 3, budget=30) == 5  # the worker is up
        started = time.perf_counter()
        with pytest.raises(BudgetExceeded):
            await pool.run(time.sleep, 60, budget=0.5)
        assert time.perf_counter() - started < 10  # stopped, not waited for
        assert await pool.run(operator.mul, 6, 7, budget=30) == 42
    finally:
        await pool.close()


async def test_a_full_pool_refuses_at_once() -> None:
    pool = ProcessPool(workers=1, max_pending=1)
    try:
        busy = asyncio.create_task(pool.run(time.sleep, 2, budget=30))
        await asyncio.sleep(0)  # the first job has taken the only place
        with pytest.raises(PoolBusy):
            await pool.run(operator.add, 1, 1, budget=30)
        await busy
        assert await pool.run(operator.add, 1, 1, budget=30) == 2
    finally:
        await pool.close()
    with pytest.raises(PoolBusy):  # closed with the runtime: no new work
        await pool.run(operator.add, 1, 1, budget=30)
