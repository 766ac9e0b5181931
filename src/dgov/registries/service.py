"""Registry use cases: authorisation, the engine, the access log and the audit chain, together.

Every read by an official or a client writes the person's access-log entry in the same transaction;
every write is a new version with its provenance and an audit record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from dgov.identity import Principal, require
from dgov.kernel import clock
from dgov.kernel.audit import AuditEntry
from dgov.kernel.errors import FieldError, NotFound, ValidationFailed
from dgov.kernel.uow import Database
from dgov.registries import access, engine, rules
from dgov.registries.definitions import registry as definition
from dgov.registries.engine import Provenance, RecordView

_RULES = rules  # importing the module registers the registries' authorisation rules


@dataclass
class RegistriesContext:
    db: Database


def _fields_read(view: RecordView, fields: list[str] | None) -> list[str]:
    return sorted(fields) if fields else sorted(view.data)


def _log_needed(actor: Principal, view: RecordView) -> bool:
    return bool(view.subject_id) and actor.kind not in ("system", "citizen")


async def get(
    ctx: RegistriesContext,
    actor: Principal,
    registry: str,
    key: str,
    *,
    purpose: str,
    as_of: datetime | None = None,
    fields: list[str] | None = None,
    channel: str = "page",
    legal_basis: str | None = None,
    dossier_code: str | None = None,
    accessor_name: str = "",
) -> RecordView:
    reg = definition(registry)
    require(actor, "registries.record.read", reg.name)
    if not purpose.strip():
        raise ValidationFailed(errors=[FieldError(("purpose",), "State why you need this data")])
    async with ctx.db.uow() as uow:
        view = await engine.read(uow.session, reg.name, key, as_of=as_of)
        if view is None or (view.deleted and as_of is None):
            raise NotFound(
                "No record with key {key} in {registry}", params={"key": key, "registry": reg.name}
            )
        if fields:
            unknown = [f for f in fields if f not in reg.fields()]
            if unknown:
                raise ValidationFailed(
                    errors=[FieldError((f,), "This field is not part of the registry") for f in unknown]
                )
            view = _only(view, fields)
        if _log_needed(actor, view):
            await access.record(
                uow.session,
                actor,
                [access.Access(view.subject_id or "", reg.name, key, _fields_read(view, fields))],
                purpose=purpose,
                now=clock.now(),
                channel=channel,
                legal_basis=legal_basis,
                dossier_code=dossier_code,
                accessor_name=accessor_name,
            )
            await uow.commit()
    return view


def _only(view: RecordView, fields: list[str]) -> RecordView:
    from dataclasses import replace

    return replace(view, data={k: v for k, v in view.data.items() if k in fields})


async def exists(ctx: RegistriesContext, actor: Principal, registry: str, key: str) -> bool:
    reg = definition(registry)
    require(actor, "registries.record.read", reg.name)
    async with ctx.db.uow(readonly=True) as uow:
        view = await engine.read(uow.session, reg.name, key)
    return view is not None and not view.deleted


SEARCH_SUMMARY = ["full_name", "birth_date", "sex", "permanent_address"]


async def search(
    ctx: RegistriesContext,
    actor: Principal,
    registry: str,
    *,
    purpose: str,
    key: str | None = None,
    name: str | None = None,
    birth_date: date | None = None,
    birth_year: int | None = None,
    province: str | None = None,
    commune: str | None = None,
    limit: int = 20,
    offset: int = 0,
    channel: str = "page",
    accessor_name: str = "",
) -> list[RecordView]:
    reg = definition(registry)
    require(actor, "registries.record.read", reg.name)
    if not purpose.strip():
        raise ValidationFailed(errors=[FieldError(("purpose",), "State why you need this data")])
    limit = max(1, min(limit, 100))
    async with ctx.db.uow() as uow:
        found = await engine.search(
            uow.session,
            reg.name,
            key=key,
            name=name,
            birth_date=birth_date,
            birth_year=birth_year,
            province=province,
            commune=commune,
            limit=limit,
            offset=offset,
        )
        reads = [
            access.Access(v.subject_id or "", reg.name, v.key, [f for f in SEARCH_SUMMARY if f in v.data])
            for v in found
            if _log_needed(actor, v)
        ]
        if reads:
            await access.record(
                uow.session,
                actor,
                reads,
                purpose=purpose,
                now=clock.now(),
                channel=channel,
                accessor_name=accessor_name,
            )
            await uow.commit()
    return found


async def history(
    ctx: RegistriesContext,
    actor: Principal,
    registry: str,
    key: str,
    *,
    purpose: str,
    channel: str = "page",
    accessor_name: str = "",
) -> list[RecordView]:
    """Every version, newest first; the person's log names every field the versions show."""
    reg = definition(registry)
    require(actor, "registries.record.read", reg.name)
    async with ctx.db.uow() as uow:
        versions = await engine.history(uow.session, reg.name, key)
        if not versions:
            raise NotFound(
                "No record with key {key} in {registry}", params={"key": key, "registry": reg.name}
            )
        if _log_needed(actor, versions[0]):
            shown = sorted({f for v in versions for f in v.data})
            await access.record(
                uow.session,
                actor,
                [access.Access(versions[0].subject_id or "", reg.name, key, [*shown, "history"])],
                purpose=purpose,
                now=clock.now(),
                channel=channel,
                accessor_name=accessor_name,
            )
            await uow.commit()
    return versions


async def create(
    ctx: RegistriesContext,
    actor: Principal,
    registry: str,
    data: Any,
    *,
    prov: Provenance | None = None,
    version: int | None = None,
) -> RecordView:
    """`version` is the schema version the data is written in (the latest when None)."""
    reg = definition(registry, version)
    require(actor, "registries.record.write", reg.name)
    prov = prov or Provenance(actor=actor.ref)
    async with ctx.db.uow() as uow:
        view = await engine.create(uow.session, reg, data, prov, clock.now())
        uow.audit(
            AuditEntry(
                actor=actor.ref,
                action="registries.record_created",
                object_type=reg.name,
                object_id=view.key,
                legal_basis=prov.legal_basis,
                details={"version": 1, "reason": prov.reason or "", "dossier": prov.dossier_code or ""},
            )
        )
        await uow.commit()
    return view


async def update(
    ctx: RegistriesContext,
    actor: Principal,
    registry: str,
    key: str,
    data: Any,
    *,
    prov: Provenance | None = None,
    merge: bool = False,
    version: int | None = None,
) -> RecordView:
    """Replace the record's data (or merge top-level fields into it) as a new version."""
    reg = definition(registry, version)
    require(actor, "registries.record.write", reg.name)
    prov = prov or Provenance(actor=actor.ref)
    async with ctx.db.uow() as uow:
        if merge:
            current = await engine.read(uow.session, reg.name, key)
            if current is None:
                raise NotFound(
                    "No record with key {key} in {registry}", params={"key": key, "registry": reg.name}
                )
            data = {**current.data, **(data if isinstance(data, dict) else {})}
        view, changes = await engine.replace(uow.session, reg, key, data, prov, clock.now())
        if changes:
            uow.audit(
                AuditEntry(
                    actor=actor.ref,
                    action="registries.record_updated",
                    object_type=reg.name,
                    object_id=key,
                    legal_basis=prov.legal_basis,
                    details={
                        "version": view.version,
                        "fields": sorted(changes),
                        "reason": prov.reason or "",
                        "dossier": prov.dossier_code or "",
                    },
                )
            )
            await uow.commit()
    return view


async def delete(
    ctx: RegistriesContext, actor: Principal, registry: str, key: str, *, prov: Provenance
) -> None:
    """Records are never erased: deletion is a version marked deleted (history and as-of reads keep it)."""
    reg = definition(registry)
    require(actor, "registries.record.write", reg.name)
    async with ctx.db.uow() as uow:
        current = await engine.read(uow.session, reg.name, key)
        if current is None or current.deleted:
            raise NotFound(
                "No record with key {key} in {registry}", params={"key": key, "registry": reg.name}
            )
        view, _changes = await engine.replace(
            uow.session, reg, key, current.data, prov, clock.now(), deleted=True
        )
        uow.audit(
            AuditEntry(
                actor=actor.ref,
                action="registries.record_deleted",
                object_type=reg.name,
                object_id=key,
                legal_basis=prov.legal_basis,
                details={"version": view.version},
            )
        )
        await uow.commit()


async def my_records(ctx: RegistriesContext, actor: Principal, id_number: str) -> list[RecordView]:
    """A citizen's own data across registries ("Dữ liệu của tôi")."""
    require(actor, "registries.my_data.view")
    async with ctx.db.uow(readonly=True) as uow:
        return await engine.records_of_subject(uow.session, id_number)


async def my_history(ctx: RegistriesContext, actor: Principal, id_number: str) -> list[list[RecordView]]:
    """Every version of each of a citizen's records (newest first): where their data came from and
    when each value changed. Callers pass the logged-in person's own number."""
    require(actor, "registries.my_data.view")
    async with ctx.db.uow(readonly=True) as uow:
        current = await engine.records_of_subject(uow.session, id_number)
        return [await engine.history(uow.session, v.registry, v.key) for v in current]


async def access_log(ctx: RegistriesContext, actor: Principal, id_number: str) -> list[dict[str, Any]]:
    """Who read this person's data: the person themself (callers pass the logged-in person's own
    number), an application they authorised for it, or an official who may read the population
    registry."""
    require(actor, "registries.access_log.view")
    async with ctx.db.uow(readonly=True) as uow:
        return await access.entries_for(uow.session, id_number)
