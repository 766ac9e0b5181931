"""The personal data access log: every read of a person's data by someone other than the person."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from dgov.identity import Principal
from dgov.kernel.group_commit import GroupCommitWriter
from dgov.kernel.ids import new_id
from dgov.kernel.uow import Database, UnitOfWork
from dgov.registries.models import access_log


@dataclass(frozen=True)
class Access:
    subject_id: str
    registry: str
    record_key: str
    fields: list[str]


def accessor_of(p: Principal) -> tuple[str, str]:
    if p.kind == "client":
        return "client", f"client:{p.client_id}"
    if p.kind in ("official", "operator"):
        return "official", p.ref
    return p.kind, p.ref


def rows_for(
    actor: Principal,
    reads: Sequence[Access],
    *,
    purpose: str,
    now: datetime,
    channel: str,
    accessor_name: str = "",
    legal_basis: str | None = None,
    dossier_code: str | None = None,
    accessor_kind: str | None = None,
    accessor: str | None = None,
) -> list[dict[str, Any]]:
    """One row per person read; a person reading their own data is not logged (they know)."""
    kind, who = accessor_of(actor)
    return [
        {
            "id": new_id(),
            "subject_id": r.subject_id,
            "at": now,
            "accessor_kind": accessor_kind or kind,
            "accessor": accessor or who,
            "accessor_name": accessor_name or who,
            "registry": r.registry,
            "record_key": r.record_key,
            "fields": r.fields,
            "purpose": purpose,
            "legal_basis": legal_basis,
            "dossier_code": dossier_code,
            "channel": channel,
        }
        for r in reads
        if r.subject_id
    ]


async def insert_rows(uow: UnitOfWork, rows: list[dict[str, Any]]) -> None:
    if rows:
        await uow.session.execute(insert(access_log), rows)


def writer(db: Database) -> GroupCommitWriter[dict[str, Any]]:
    """The log's group-commit writer: a read answers only once its log rows are durable, and the rows
    of concurrent reads share one transaction (on SQLite, one writer and one fsync per batch)."""
    return GroupCommitWriter(db, insert_rows)


async def entries_for(session: AsyncSession, subject_id: str, *, limit: int = 200) -> list[dict[str, Any]]:
    rows = (
        await session.execute(
            select(access_log)
            .where(access_log.c.subject_id == subject_id)
            .order_by(access_log.c.at.desc())
            .limit(limit)
        )
    ).all()
    return [
        {
            "id": str(r.id),
            "at": r.at.isoformat(),
            "accessor_kind": r.accessor_kind,
            "accessor": r.accessor,
            "accessor_name": r.accessor_name,
            "registry": r.registry,
            "record_key": r.record_key,
            "fields": list(r.fields),
            "purpose": r.purpose,
            "legal_basis": r.legal_basis,
            "dossier_code": r.dossier_code,
            "channel": r.channel,
        }
        for r in rows
    ]
