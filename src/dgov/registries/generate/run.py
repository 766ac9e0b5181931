"""The use case: batches built (in a worker process from WORKER_FROM people) and written in order."""

from __future__ import annotations

import asyncio
import gc
import os
import pickle
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Index, func, select

from dgov.kernel import clock
from dgov.kernel.audit import AuditEntry
from dgov.kernel.errors import Conflict, FieldError, ValidationFailed
from dgov.kernel.uow import Database
from dgov.registries.generate.records import Generator
from dgov.registries.generate.world import ACTOR, REGISTRIES, Rec
from dgov.registries.generate.writer import _Writer
from dgov.registries.models import records


@dataclass
class GenerateStats:
    people: int = 0
    seconds: float = 0.0
    records: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """People written per second."""
        return self.people / self.seconds if self.seconds else 0.0


# Keys already in the registries the generator writes are skipped; beyond this many records the generator
# refuses rather than hold all their keys in memory (generate into an empty or small database).
MAX_EXISTING = 2_000_000


async def _existing_keys(db: Database) -> dict[str, frozenset[str]]:
    async with db.uow(readonly=True) as uow:
        count = await uow.session.scalar(
            select(func.count()).select_from(records).where(records.c.registry.in_(REGISTRIES))
        )
        if not count:
            return {}
        if count > MAX_EXISTING:
            raise Conflict(
                "The registries already hold {count} records; generate into an empty database",
                params={"count": count},
            )
        rows = (
            await uow.session.execute(
                select(records.c.registry, records.c.key).where(records.c.registry.in_(REGISTRIES))
            )
        ).all()
    keys: dict[str, set[str]] = {}
    for name, key in rows:
        keys.setdefault(name, set()).add(key)
    return {name: frozenset(found) for name, found in keys.items()}


# Below this many people the batches are built in process; above, in a worker process (the spawn costs
# about a second).
WORKER_FROM = 100_000


class _Builder:
    """Builds batches in order: the generator's counters make batch k+1 depend on batch k."""

    def __init__(
        self,
        seed: int,
        as_of: date,
        taken: dict[str, frozenset[str]],
        writer: _Writer,
        only: tuple[str, ...] = REGISTRIES,
    ) -> None:
        self.seed = seed
        self.gen = Generator(seed, as_of, taken, only)
        self.writer = writer

    def build(self, number: int, size: int) -> tuple[int, Any, dict[str, int]]:
        rng = random.Random(f"{self.seed}:{number}")  # noqa: S311 - synthetic data, reproducible by design
        recs: list[Rec] = []
        made = 0
        while made < size:
            household = self.gen.household(rng, size - made)
            self.gen.records(rng, household, recs)
            made += len(household)
        return made, self.writer.prepare(recs), dict(Counter(r[0] for r in recs))


def _worker_main() -> None:
    """`python -m dgov.registries.generate --worker`: read the run's parameters (a pickle) from stdin,
    then write every batch to stdout as a length-prefixed pickle, in order. The pipe gives back-pressure:
    the worker builds batch k+1 while the parent writes batch k, and no further."""
    # Keep the pipe for the frames; anything else written to stdout (a stray print) goes to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    gc.disable()  # the generator breaks its reference cycles itself
    seed, as_of, taken, writer, only, sizes = pickle.load(sys.stdin.buffer)  # noqa: S301 - from our parent
    builder = _Builder(seed, as_of, taken, writer, only)
    for number, size in enumerate(sizes):
        frame = pickle.dumps(builder.build(number, size), protocol=pickle.HIGHEST_PROTOCOL)
        out.write(len(frame).to_bytes(8, "big"))
        out.write(frame)
        out.flush()


async def generate(
    db: Database,
    *,
    people: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
    batch: int = 20_000,
    as_of: date | None = None,
    worker: bool | None = None,
    registries: tuple[str, ...] = REGISTRIES,
) -> GenerateStats:
    """Generate and write `people` people (living and dead) with their records. The population is
    reproducible from (seed, as_of); as_of defaults to 1 January of the current year, so the same seed
    gives the same people all year. Keys already in the registries are never reused. `registries`
    limits what is written (e.g. population only, for a benchmark); the people are the same.

    With `worker` (by default from WORKER_FROM people) the batches are built in a worker process while
    this one writes the previous batch, so generation and the database use both cores. Each batch is
    committed by its own unit of work: an interrupted run leaves whole batches."""
    unknown = set(registries) - set(REGISTRIES)
    if unknown:
        raise ValidationFailed(
            errors=[
                FieldError(
                    ("registries",), "The generator does not fill {names}", {"names": ", ".join(unknown)}
                )
            ]
        )
    now = clock.now()
    as_of = as_of or date(now.astimezone(clock.VN_TZ).year, 1, 1)
    async with db.uow(readonly=True) as uow:
        dialect = (await uow.session.connection()).dialect.name
    taken = await _existing_keys(db)
    writer = _Writer(dialect, now, f"Synthetic population (seed {seed}, as of {as_of.isoformat()})")
    stats = GenerateStats()
    sizes = list(_batches(people, batch))
    use_worker = worker if worker is not None else people >= WORKER_FROM

    async def store(made: int, payload: Any, counts: dict[str, int]) -> None:
        async with db.uow() as uow:
            await writer.store(uow.session, payload)
            await uow.commit()
        stats.people += made
        for name, n in counts.items():
            stats.records[name] = stats.records.get(name, 0) + n
        if progress is not None:
            progress(stats.people)

    collecting = gc.isenabled()
    gc.disable()  # millions of short-lived containers: the cyclic collector would only slow us down
    started = time.perf_counter()
    deferred = await _defer_indexes(db, people)
    try:
        if use_worker:
            await _run_with_worker(sizes, store, (seed, as_of, taken, writer, registries))
        else:
            builder = _Builder(seed, as_of, taken, writer, registries)
            for number, size in enumerate(sizes):
                await store(*builder.build(number, size))
    finally:
        if collecting:
            gc.enable()
        if deferred:
            await _build_indexes(db, deferred)
    stats.seconds = time.perf_counter() - started
    async with db.uow() as uow:
        uow.audit(
            AuditEntry(
                actor=ACTOR,
                action="registries.generated",
                object_type="registry",
                object_id="population",
                details={
                    "people": stats.people,
                    "seed": seed,
                    "as_of": as_of.isoformat(),
                    "records": stats.records,
                },
            )
        )
        await uow.commit()
    return stats


async def _run_with_worker(
    sizes: list[int],
    store: Callable[[int, Any, dict[str, int]], Awaitable[None]],
    params: tuple[Any, ...],
) -> None:
    # A plain subprocess rather than multiprocessing: spawn would re-run the caller's __main__ and fork is
    # unsafe in a process with threads (the database driver's).
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dgov.registries.generate",
        "--worker",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(pickle.dumps((*params, sizes), protocol=pickle.HIGHEST_PROTOCOL))
        await proc.stdin.drain()
        proc.stdin.close()
        for _ in sizes:
            try:
                length = int.from_bytes(await proc.stdout.readexactly(8), "big")
                result = pickle.loads(await proc.stdout.readexactly(length))  # noqa: S301 - our own child
            except asyncio.IncompleteReadError:
                raise RuntimeError(
                    f"the generator's worker process failed (exit {await proc.wait()})"
                ) from None
            await store(*result)
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# From this many people into an empty table, the secondary indexes are dropped for the load and built
# afterwards: one sort per index instead of millions of inserts at random places in it.
DEFER_INDEXES_FROM = 50_000
DEFERRED_INDEXES = (
    "ix_registry_records_name",
    "ix_registry_records_place_name",
    "ix_registry_records_subject",
)


async def _defer_indexes(db: Database, people: int) -> list[Index]:
    """Drop the secondary indexes when the table is empty (the unique key stays: it is also the check
    that no key is written twice). Returns what to build again."""
    if people < DEFER_INDEXES_FROM:
        return []
    async with db.uow() as uow:
        if await uow.session.scalar(select(records.c.id).limit(1)) is not None:
            return []
        conn = await uow.session.connection()
        dropped = [ix for ix in records.indexes if ix.name in DEFERRED_INDEXES]
        for ix in dropped:
            await conn.run_sync(ix.drop)
        await uow.commit()
    return dropped


async def _build_indexes(db: Database, indexes: list[Index]) -> None:
    """Build the indexes again (also after a failed load: the table must never stay without them),
    then gather planner statistics, which a bulk load leaves stale."""
    async with db.uow() as uow:
        conn = await uow.session.connection()
        if conn.dialect.name == "postgresql":
            await conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")
        for ix in indexes:
            await conn.run_sync(ix.create)
        await uow.commit()
    async with db.uow() as uow:
        conn = await uow.session.connection()
        if conn.dialect.name == "postgresql":
            await conn.exec_driver_sql("ANALYZE registry_records")
        else:
            await conn.exec_driver_sql("PRAGMA analysis_limit=1000")
            await conn.exec_driver_sql("ANALYZE registry_records")
        await uow.commit()


def _batches(total: int, size: int) -> Iterable[int]:
    size = max(1, size)
    for start in range(0, total, size):
        yield min(size, total - start)
