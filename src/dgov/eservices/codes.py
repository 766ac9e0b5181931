"""Dossier codes: `<agency code>-YYMMDD-NNNN` (Circular 01/2018/TT-VPCP Art. 19 [verify]).

The daily sequence is one counter row per agency and day, bumped with a single upsert statement: on
PostgreSQL the conflicting row is locked until the transaction ends, on SQLite writers are serialised,
so two submissions at the same moment never get the same number, and a rolled-back one frees nothing
that another has already seen.
"""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from dgov.eservices.models import counters

CODE_RE = re.compile(r"^(?P<agency>[0-9A-Z]+(?:\.[0-9A-Z]+)*)-(?P<day>[0-9]{6})-(?P<seq>[0-9]{4,})$")


def _upsert(dialect: str, agency_code: str, day: str) -> Insert:
    values = {"agency_code": agency_code, "day": day, "last": 1}
    if dialect == "postgresql":
        pg = postgresql.insert(counters).values(values)
        return pg.on_conflict_do_update(
            index_elements=["agency_code", "day"], set_={"last": counters.c.last + 1}
        ).returning(counters.c.last)
    lite = sqlite.insert(counters).values(values)
    return lite.on_conflict_do_update(
        index_elements=["agency_code", "day"], set_={"last": counters.c.last + 1}
    ).returning(counters.c.last)


async def next_code(session: AsyncSession, agency_code: str, day: date) -> str:
    yymmdd = day.strftime("%y%m%d")
    seq = (await session.execute(_upsert(session.get_bind().dialect.name, agency_code, yymmdd))).scalar_one()
    # Four digits as the format shows; a 10,000th dossier in one day widens the field, never wraps.
    return f"{agency_code}-{yymmdd}-{seq:04d}"


def parse_code(code: str) -> tuple[str, date, int]:
    m = CODE_RE.match(code)
    if m is None:
        raise ValueError(f"not a dossier code: {code!r}")
    d = m["day"]
    return m["agency"], date(2000 + int(d[:2]), int(d[2:4]), int(d[4:])), int(m["seq"])
