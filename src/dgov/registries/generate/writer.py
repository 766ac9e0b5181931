"""Rows of `registry_records` in the driver's own format, written in one statement per batch."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from dgov.kernel.ids import new_id
from dgov.registries.definitions import registry
from dgov.registries.generate.world import ACTOR, REGISTRIES, Rec

COLUMNS = (
    "id", "registry", "key", "version", "schema_version", "data", "subject_id", "name_norm", "birth_date",
    "birth_year", "province_code", "commune_code", "deleted", "valid_from", "changed_by", "reason",
    "legal_basis", "dossier_code", "created_at",
)  # fmt: skip
COPY_SQL = f"COPY registry_records ({', '.join(COLUMNS)}) FROM STDIN"
INSERT_SQL = f"INSERT INTO registry_records ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"  # noqa: S608


class _Writer:
    """Turns records into rows of `registry_records` and writes a batch in one statement: executemany on
    SQLite, COPY on PostgreSQL, through the unit of work's own connection and transaction."""

    def __init__(self, dialect: str, now: datetime, reason: str) -> None:
        self.dialect = dialect
        self.now = now
        self.reason = reason
        self.schema_versions = {name: registry(name).version for name in REGISTRIES}
        # UUIDv7-shaped ids: the time prefix of one fresh id, a counter in the low bits (still unique,
        # still time-ordered, and no per-row clock or random call).
        self.base = new_id().int & ~((1 << 40) - 1)
        self.next_id = 0

    def prepare(self, recs: list[Rec]) -> Any:
        """The batch in the driver's format: parameter tuples for SQLite, COPY text for PostgreSQL."""
        base, sv, dumps = self.base + self.next_id, self.schema_versions, _dumps
        self.next_id += len(recs)
        if self.dialect != "postgresql":
            now = self.now.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
            return [
                (
                    f"{base + i:032x}",
                    r[0],
                    r[1],
                    1,
                    sv[r[0]],
                    dumps(r[2]),
                    r[3],
                    r[4],
                    r[5],
                    r[6],
                    r[7],
                    r[8],
                    0,
                    now,
                    ACTOR,
                    self.reason,
                    None,
                    None,
                    now,
                )
                for i, r in enumerate(recs)
            ]
        now = self.now.astimezone(UTC).isoformat()
        tail = f"f\t{now}\t{ACTOR}\t{_copy_text(self.reason)}\t{NULL}\t{NULL}\t{now}\n"
        return "".join(
            f"{base + i:032x}\t{r[0]}\t{r[1]}\t1\t{sv[r[0]]}\t{dumps(r[2]).replace(BS, BS2)}\t"
            f"{r[3] or NULL}\t{r[4] or NULL}\t{r[5] or NULL}\t{NULL if r[6] is None else r[6]}\t"
            f"{r[7] or NULL}\t{r[8] or NULL}\t{tail}"
            for i, r in enumerate(recs)
        )

    async def store(self, session: Any, payload: Any) -> None:
        conn = await session.connection()
        raw = (await conn.get_raw_connection()).driver_connection
        if self.dialect == "postgresql":
            async with raw.cursor() as cur, cur.copy(COPY_SQL) as copy:
                await copy.write(payload)
            return
        # A bigger page cache for the batch: index pages stay in memory across the batch's inserts.
        previous = (await (await raw.execute("PRAGMA cache_size")).fetchone())[0]
        await raw.execute(f"PRAGMA cache_size={SQLITE_CACHE_KIB}")
        try:
            await raw.executemany(INSERT_SQL, payload)
        finally:
            await raw.execute(f"PRAGMA cache_size={int(previous)}")


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
SQLITE_CACHE_KIB = -262_144  # 256 MiB (negative: KiB, SQLite's convention)


NULL = "\\N"  # NULL in COPY's text format
BS, BS2 = "\\", "\\\\"  # a backslash in JSON text is doubled in COPY's text format


def _copy_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
