"""Registry use cases: authorisation, the engine, the access log and the audit chain, together.

Every read by an official or a client writes the person's access-log entry in the same transaction;
every write is a new version with its provenance and an audit record.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from dgov.identity import Principal, can, require
from dgov.kernel import clock
from dgov.kernel.audit import AuditEntry
from dgov.kernel.errors import FieldError, Forbidden, NotFound, ValidationFailed
from dgov.kernel.group_commit import GroupCommitWriter
from dgov.kernel.uow import Database, UnitOfWork
from dgov.registries import access, engine, rules
from dgov.registries.definitions import Registry, catalogue
from dgov.registries.definitions import registry as definition
from dgov.registries.engine import Provenance, RecordView
from dgov.registries.events import publish_change
from dgov.registries.rules import AgencyRights, Reach, ReadTarget

_RULES = rules  # importing the module registers the registries' authorisation rules


@dataclass(frozen=True)
class RightsSource:
    """Where the agencies' rights to read registries through the exchange come from. The exchange domain
    provides it (`set_rights_source`): registries cannot import the exchange, which builds on them."""

    load: Callable[[Database], Awaitable[AgencyRights]]
    generation: Callable[[], int]  # changes whenever this process commits a directory change


_rights_source: RightsSource | None = None
RIGHTS_CACHE_SECONDS = 15.0  # a right granted or revoked by another process counts within this time


def set_rights_source(source: RightsSource | None) -> None:
    global _rights_source
    _rights_source = source


@dataclass
class RegistriesContext:
    db: Database
    # Reads' access-log rows go through one group-commit writer per context (see kernel.group_commit).
    log_writer: GroupCommitWriter[dict[str, Any]] = field(init=False, repr=False)
    _rights: tuple[int, float, AgencyRights] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.log_writer = access.writer(self.db)

    async def agency_rights(self) -> AgencyRights:
        """Which registries each agency may read through the exchange (cached briefly per context)."""
        source = _rights_source
        if source is None:
            return {}
        gen, now = source.generation(), time.monotonic()
        if (
            self._rights is not None
            and self._rights[0] == gen
            and now - self._rights[1] < RIGHTS_CACHE_SECONDS
        ):
            return self._rights[2]
        rights = await source.load(self.db)
        self._rights = (gen, now, rights)
        return rights

    async def log_reads(
        self,
        actor: Principal,
        reads: list[access.Access],
        *,
        purpose: str,
        channel: str,
        accessor_name: str = "",
        legal_basis: str | None = None,
        dossier_code: str | None = None,
    ) -> None:
        """Returns once the rows are durably committed: the data may leave only after its log entry."""
        rows = access.rows_for(
            actor,
            reads,
            purpose=purpose,
            now=clock.now(),
            channel=channel,
            accessor_name=accessor_name,
            legal_basis=legal_basis,
            dossier_code=dossier_code,
        )
        await self.log_writer.submit(rows)


def _missing(reg: Registry, key: str) -> NotFound:
    return NotFound("No record with key {key} in {registry}", params={"key": key, "registry": reg.name})


@dataclass(frozen=True)
class Reader:
    """A registry an actor may read, with where in it (see `rules`)."""

    reg: Registry
    rights: AgencyRights
    reach: Reach

    def check(self, actor: Principal, view: RecordView) -> None:
        """Refuse a record outside the actor's administrative units."""
        unit = (view.province_code, view.commune_code)
        if not can(actor, "registries.record.read", ReadTarget(self.reg.name, self.rights, unit)):
            raise Forbidden("This record belongs to an administrative unit outside your role's unit")


async def _rights_of(ctx: RegistriesContext, actor: Principal) -> AgencyRights:
    return await ctx.agency_rights() if actor.kind == "official" else {}


async def _reader(
    ctx: RegistriesContext, actor: Principal, registry: str, purpose: str | None = None
) -> Reader:
    """The registry, once the actor may read some of it and (when the read needs one) has stated a
    purpose: an official's reads always do."""
    reg = definition(registry)
    rights = await _rights_of(ctx, actor)
    if not can(actor, "registries.record.read", ReadTarget(reg.name, rights)):
        if rules.needs_higher_level(actor, reg.name, rights):
            raise Forbidden("Reading personal data needs a level-2 login (password and one-time code)")
        require(actor, "registries.record.read", ReadTarget(reg.name, rights))
    if purpose is not None and not purpose.strip():
        raise ValidationFailed(errors=[FieldError(("purpose",), "State why you need this data")])
    return Reader(reg, rights, rules.reach(actor, reg.name, rights))


async def readable(ctx: RegistriesContext, actor: Principal) -> list[Registry]:
    """The registries the actor may read some of (latest versions, in catalogue order)."""
    rights = await _rights_of(ctx, actor)
    return [
        versions[max(versions)]
        for name, versions in catalogue().items()
        if can(actor, "registries.record.read", ReadTarget(name, rights))
    ]


def _writer(actor: Principal, registry: str, version: int | None = None) -> Registry:
    reg = definition(registry, version)
    require(actor, "registries.record.write", reg.name)
    return reg


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
    reader = await _reader(ctx, actor, registry, purpose)
    reg = reader.reg
    if fields:
        unknown = [f for f in fields if f not in reg.fields()]
        if unknown:
            raise ValidationFailed(
                errors=[FieldError((f,), "This field is not part of the registry") for f in unknown]
            )
    # The read itself takes no write lock; its log row is committed (with those of concurrent reads)
    # before the record is returned.
    async with ctx.db.uow(readonly=True) as uow:
        view = await engine.read(uow.session, reg.name, key, as_of=as_of)
    if view is None or (view.deleted and as_of is None):
        raise _missing(reg, key)
    reader.check(actor, view)
    if fields:
        view = replace(view, data={k: v for k, v in view.data.items() if k in fields})
    if _log_needed(actor, view):
        await ctx.log_reads(
            actor,
            [access.Access(view.subject_id or "", reg.name, key, _fields_read(view, fields))],
            purpose=purpose,
            channel=channel,
            legal_basis=legal_basis,
            dossier_code=dossier_code,
            accessor_name=accessor_name,
        )
    return view


async def exists(ctx: RegistriesContext, actor: Principal, registry: str, key: str) -> bool:
    """A yes or no by exact key (no purpose, nothing logged): for a record outside the actor's units
    the answer is no, so that it reveals nothing there either."""
    reader = await _reader(ctx, actor, registry)
    reg = reader.reg
    async with ctx.db.uow(readonly=True) as uow:
        view = await engine.read(uow.session, reg.name, key)
    if view is None or view.deleted:
        return False
    return reader.reach.covers(view.province_code, view.commune_code)


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
    """Only records in the actor's units: a national reach searches everywhere, any other is narrowed
    to its provinces and communes in the query itself."""
    reader = await _reader(ctx, actor, registry, purpose)
    reg = reader.reg
    limit = max(1, min(limit, 100))
    async with ctx.db.uow(readonly=True) as uow:
        found = await engine.search(
            uow.session,
            reg.name,
            key=key,
            name=name,
            birth_date=birth_date,
            birth_year=birth_year,
            province=province,
            commune=commune,
            within=None if reader.reach.nationwide else reader.reach.units,
            limit=limit,
            offset=offset,
        )
    reads = [
        access.Access(v.subject_id or "", reg.name, v.key, [f for f in SEARCH_SUMMARY if f in v.data])
        for v in found
        if _log_needed(actor, v)
    ]
    await ctx.log_reads(actor, reads, purpose=purpose, channel=channel, accessor_name=accessor_name)
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
    reader = await _reader(ctx, actor, registry, purpose)
    reg = reader.reg
    async with ctx.db.uow(readonly=True) as uow:
        versions = await engine.history(uow.session, reg.name, key)
    if not versions:
        raise _missing(reg, key)
    reader.check(actor, versions[0])
    if _log_needed(actor, versions[0]):
        shown = sorted({f for v in versions for f in v.data})
        await ctx.log_reads(
            actor,
            [access.Access(versions[0].subject_id or "", reg.name, key, [*shown, "history"])],
            purpose=purpose,
            channel=channel,
            accessor_name=accessor_name,
        )
    return versions


def _audit_change(uow: UnitOfWork, actor: Principal, view: RecordView, action: str, **details: Any) -> None:
    uow.audit(
        AuditEntry(
            actor=actor.ref,
            action=f"registries.record_{action}",
            object_type=view.registry,
            object_id=view.key,
            legal_basis=view.legal_basis,
            details={"version": view.version, **details},
        )
    )


def _why(prov: Provenance) -> dict[str, str]:
    return {"reason": prov.reason or "", "dossier": prov.dossier_code or ""}


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
    reg = _writer(actor, registry, version)
    prov = prov or Provenance(actor=actor.ref)
    async with ctx.db.uow() as uow:
        view = await engine.create(uow.session, reg, data, prov, clock.now())
        _audit_change(uow, actor, view, "created", **_why(prov))
        publish_change(uow, view, "created", view.data)
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
    reg = _writer(actor, registry, version)
    prov = prov or Provenance(actor=actor.ref)
    async with ctx.db.uow() as uow:
        if merge:
            current = await engine.read(uow.session, reg.name, key)
            if current is None:
                raise _missing(reg, key)
            data = {**current.data, **(data if isinstance(data, dict) else {})}
        view, changes = await engine.replace(uow.session, reg, key, data, prov, clock.now())
        if changes:
            _audit_change(uow, actor, view, "updated", fields=sorted(changes), **_why(prov))
            publish_change(uow, view, "updated", changes)
            await uow.commit()
    return view


async def delete(
    ctx: RegistriesContext, actor: Principal, registry: str, key: str, *, prov: Provenance
) -> None:
    """Records are never erased: deletion is a version marked deleted (history and as-of reads keep it)."""
    reg = _writer(actor, registry)
    async with ctx.db.uow() as uow:
        current = await engine.read(uow.session, reg.name, key)
        if current is None or current.deleted:
            raise _missing(reg, key)
        view, _changes = await engine.replace(
            uow.session, reg, key, current.data, prov, clock.now(), deleted=True
        )
        _audit_change(uow, actor, view, "deleted")
        publish_change(uow, view, "deleted", [])
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
    target = ReadTarget("population")
    if actor.kind == "official":
        # An official sees the log of a person in their unit only: the person's unit is their record's.
        async with ctx.db.uow(readonly=True) as uow:
            person = await engine.read(uow.session, "population", id_number)
        cols = engine.columns_for(definition("population"), person.data if person else {})
        target = ReadTarget(
            "population", await ctx.agency_rights(), (cols["province_code"], cols["commune_code"])
        )
    require(actor, "registries.access_log.view", target)
    async with ctx.db.uow(readonly=True) as uow:
        return await access.entries_for(uow.session, id_number)
