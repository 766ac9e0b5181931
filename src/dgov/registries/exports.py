"""Streaming export of a registry's current records to JSON Lines or CSV, in the shapes `imports` reads.

Keyset pagination by key (the (registry, key) unique index serves it): each page is its own short
unit of work, so an export of millions of records neither holds a transaction open nor grows in memory.
An export is a read of every person in it: each page writes those people's access-log entries in the
same transaction as it reads them, so each person sees that their data left in an export, and why.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from sqlalchemy import select

from dgov.identity import Principal, require
from dgov.kernel import clock
from dgov.kernel.audit import AuditEntry
from dgov.kernel.errors import FieldError, Forbidden, ValidationFailed
from dgov.registries import access, rules
from dgov.registries.definitions import Registry
from dgov.registries.definitions import registry as definition
from dgov.registries.models import records
from dgov.registries.service import RegistriesContext

ExportFormat = Literal["jsonl", "csv"]
PAGE = 1000
EXPORTED = "registries.records_exported"


def csv_columns(reg: Registry) -> list[str]:
    """Every leaf field in schema order, nested objects as dotted names; arrays stay one JSON column."""
    out: list[str] = []

    def walk(props: dict[str, Any], prefix: str) -> None:
        for name, spec in props.items():
            if spec.get("type") == "object" and spec.get("properties"):
                walk(spec["properties"], f"{prefix}{name}.")
            else:
                out.append(prefix + name)

    walk(reg.fields(), "")
    return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def csv_row(paths: list[tuple[str, ...]], data: dict[str, Any]) -> list[str]:
    """One record's cells; `paths` are the columns split on dots (once per export, not per cell)."""
    out = []
    for first, *rest in paths:
        value = data.get(first)
        for part in rest:
            value = value.get(part) if isinstance(value, dict) else None
        out.append(_cell(value))
    return out


async def export_records(
    ctx: RegistriesContext,
    actor: Principal,
    registry: str,
    *,
    purpose: str,
    fmt: ExportFormat = "jsonl",
    page: int = PAGE,
    channel: str = "api",
    log_as: tuple[str, str] | None = None,
) -> AsyncIterator[str]:
    """Chunks of text (whole lines) to write out in order; the export itself is audited first.

    `log_as` (accessor kind, accessor) names the reader in the access log when the actor is the system
    acting for someone (the operator's command line); the system's own jobs are not logged."""
    reg = definition(registry)
    require(actor, "registries.record.read", reg.name)
    if not rules.reach(actor, reg.name, await ctx.agency_rights()).nationwide:
        raise Forbidden("Only a national role may export a whole registry")
    if fmt not in ("jsonl", "csv"):
        raise ValidationFailed(errors=[FieldError(("format",), "Name the file's format: csv or jsonl")])
    if not purpose.strip():
        raise ValidationFailed(errors=[FieldError(("purpose",), "State why you need this data")])
    logged = log_as is not None or actor.kind not in ("system", "citizen")
    async with ctx.db.uow() as uow:
        # A bulk read of personal data: one audit record names who took the registry out, and why.
        uow.audit(
            AuditEntry(
                actor=actor.ref,
                action=EXPORTED,
                object_type=reg.name,
                object_id=reg.name,
                details={"format": fmt, "purpose": purpose, "channel": channel},
            )
        )
        await uow.commit()
    columns = csv_columns(reg)
    paths = [tuple(c.split(".")) for c in columns]
    if fmt == "csv":
        yield _csv_text([columns])
    last: str | None = None
    while True:
        query = select(records.c.key, records.c.data, records.c.subject_id).where(
            records.c.registry == reg.name, records.c.deleted.is_(False)
        )
        if last is not None:
            query = query.where(records.c.key > last)
        async with ctx.db.uow(readonly=not logged) as uow:
            rows = (await uow.session.execute(query.order_by(records.c.key).limit(page))).all()
            if rows and logged:
                reads = [access.Access(r.subject_id or "", reg.name, r.key, sorted(r.data)) for r in rows]
                kind, who = log_as or access.accessor_of(actor)
                logged_rows = access.rows_for(
                    actor,
                    reads,
                    purpose=purpose,
                    now=clock.now(),
                    channel=channel,
                    accessor_kind=kind,
                    accessor=who,
                )
                await access.insert_rows(uow, logged_rows)
                await uow.commit()
        if not rows:
            return
        last = rows[-1].key
        if fmt == "csv":
            yield _csv_text(csv_row(paths, r.data) for r in rows)
        else:
            yield "".join(json.dumps(r.data, ensure_ascii=False) + "\n" for r in rows)


def _csv_text(rows: Any) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows(rows)
    return buf.getvalue()
