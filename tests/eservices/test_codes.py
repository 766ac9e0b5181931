"""Dossier codes under real concurrency: separate connections racing for the same agency and day each
get their own number, the numbers run 1..N without gaps, and a new day starts again at 0001."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from dgov.eservices import codes
from dgov.eservices.models import counters

RACERS = 12


async def one(engine: AsyncEngine, agency: str, day: date) -> str:
    async with AsyncSession(engine) as session, session.begin():
        code = await codes.next_code(session, agency, day)
        await asyncio.sleep(0)  # hold the transaction open a moment: the others must wait, not duplicate
        return code


async def test_racing_submissions_get_distinct_consecutive_numbers(engine: AsyncEngine) -> None:
    agency = f"T{uuid.uuid4().hex[:8].upper()}"  # a fresh agency: the session database is shared
    try:
        got = await asyncio.gather(*[one(engine, agency, date(2026, 11, 27)) for _ in range(RACERS)])
        assert sorted(got) == [f"{agency}-261127-{n:04d}" for n in range(1, RACERS + 1)]
        assert await one(engine, agency, date(2026, 11, 28)) == f"{agency}-261128-0001"
    finally:
        async with AsyncSession(engine) as session, session.begin():
            await session.execute(counters.delete().where(counters.c.agency_code == agency))


async def test_a_rolled_back_number_is_handed_out_again(engine: AsyncEngine) -> None:
    agency = f"R{uuid.uuid4().hex[:8].upper()}"
    try:
        async with AsyncSession(engine) as session, session.begin():
            assert await codes.next_code(session, agency, date(2026, 1, 5)) == f"{agency}-260105-0001"
            await session.rollback()
        assert await one(engine, agency, date(2026, 1, 5)) == f"{agency}-260105-0001"
    finally:
        async with AsyncSession(engine) as session, session.begin():
            await session.execute(counters.delete().where(counters.c.agency_code == agency))


def test_codes_parse_back() -> None:
    assert codes.parse_code("000.00.12.H62-201105-0004") == ("000.00.12.H62", date(2020, 11, 5), 4)
    for bad in ("000.00.12.H62-201105-04", "000.00.12.H62_201105_0004", "-201105-0004"):
        try:
            codes.parse_code(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
