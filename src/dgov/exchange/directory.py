"""The directory's use cases: members, subsystems and their keys, services, access rights.

Every change is the operator's (or the system's, for the demo and the command line) and is audited.
Registrations arriving from other nodes wait as `pending` until an operator approves them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dgov.exchange import httpsig
from dgov.exchange.addresses import (
    MemberId,
    ServiceId,
    SubsystemId,
    check_class,
    check_code,
    member_id,
    service_id,
    subsystem_id,
)
from dgov.exchange.models import keys_t, members_t, rights_t, services_t, subsystems_t
from dgov.identity import Principal, audit_by, is_operator, register, require
from dgov.kernel import clock
from dgov.kernel.audit import AuditEntry
from dgov.kernel.errors import Conflict, FieldError, NotFound, ValidationFailed
from dgov.kernel.ids import new_id
from dgov.kernel.uow import Database, UnitOfWork

MANAGE = "exchange.directory.manage"
_generation = 0


def generation() -> int:
    """Bumped after every directory change committed by this process (gateways drop their caches)."""
    return _generation


def changed() -> None:
    global _generation
    _generation += 1


async def _commit(uow: UnitOfWork) -> None:
    await uow.commit()
    changed()


READ_LOG = "exchange.log.read"


@register(MANAGE)
def _manage(p: Principal, _resource: Any) -> bool:
    return is_operator(p) and p.level >= 2


@register(READ_LOG)
def _read_log(p: Principal, _resource: Any) -> bool:
    return is_operator(p) and p.level >= 1


def _audit(actor: Principal, action: str, obj: str, details: dict[str, Any] | None = None) -> AuditEntry:
    return audit_by(actor, action=action, object_type="exchange", object_id=obj, details=details or {})


async def _member_row(s: AsyncSession, m: MemberId) -> Any:
    return (
        await s.execute(
            select(members_t).where(
                members_t.c.instance == m.instance,
                members_t.c.member_class == m.member_class,
                members_t.c.code == m.code,
            )
        )
    ).one_or_none()


async def _subsystem_row(s: AsyncSession, sid: SubsystemId) -> Any:
    m = members_t
    return (
        await s.execute(
            select(subsystems_t, m.c.status.label("member_status"), m.c.name.label("member_name"))
            .join(m, m.c.id == subsystems_t.c.member_id)
            .where(
                m.c.instance == sid.member.instance,
                m.c.member_class == sid.member.member_class,
                m.c.code == sid.member.code,
                subsystems_t.c.code == sid.code,
            )
        )
    ).one_or_none()


async def _service_row(s: AsyncSession, sv: ServiceId) -> Any:
    sub = await _subsystem_row(s, sv.subsystem)
    if sub is None:
        return None
    return (
        await s.execute(
            select(services_t).where(services_t.c.subsystem_id == sub.id, services_t.c.code == sv.code)
        )
    ).one_or_none()


async def add_member(
    db: Database,
    actor: Principal,
    *,
    instance: str,
    member_class: str,
    code: str,
    name: str,
    status: str = "active",
) -> MemberId:
    require(actor, MANAGE)
    mid = MemberId(check_code(instance, "instance"), check_class(member_class), check_code(code, "code"))
    if not name.strip():
        raise ValidationFailed(errors=[FieldError(("name",), "This field is required")])
    async with db.uow() as uow:
        if await _member_row(uow.session, mid) is not None:
            raise Conflict("Member {member} already exists", params={"member": str(mid)})
        await uow.session.execute(
            members_t.insert().values(
                id=new_id(),
                instance=mid.instance,
                member_class=mid.member_class,
                code=mid.code,
                name=name.strip(),
                status=status,
                created_at=clock.now(),
            )
        )
        uow.audit(_audit(actor, "exchange.member.added", str(mid), {"name": name.strip(), "status": status}))
        await _commit(uow)
    return mid


@dataclass(frozen=True)
class NewSubsystem:
    address: SubsystemId
    key_id: str


async def add_subsystem(
    db: Database,
    actor: Principal,
    *,
    member: str,
    code: str,
    public_key_pem: str,
    instance: str,
    server_url: str = "",
    private_sealed: str | None = None,
    status: str = "active",
    key_id: str | None = None,
) -> NewSubsystem:
    """Register a subsystem with its first key (or add a key to an existing subsystem)."""
    require(actor, MANAGE)
    mid = member_id(member, instance=instance)
    sid = SubsystemId(mid, check_code(code, "code"))
    key = _public_key(public_key_pem)
    kid = key_id or httpsig.jwk_thumbprint(key)
    async with db.uow() as uow:
        s = uow.session
        mrow = await _member_row(s, mid)
        if mrow is None:
            raise NotFound("No member {member}", params={"member": str(mid)})
        row = await _subsystem_row(s, sid)
        if row is None:
            sub_uuid = new_id()
            await s.execute(
                subsystems_t.insert().values(
                    id=sub_uuid,
                    member_id=mrow.id,
                    code=sid.code,
                    status=status,
                    server_url=server_url,
                    created_at=clock.now(),
                )
            )
        else:
            sub_uuid = row.id
            if server_url:
                await s.execute(
                    update(subsystems_t).where(subsystems_t.c.id == sub_uuid).values(server_url=server_url)
                )
        if (await s.execute(select(keys_t.c.key_id).where(keys_t.c.key_id == kid))).first() is not None:
            raise Conflict("This key is already registered ({key_id})", params={"key_id": kid})
        await s.execute(
            keys_t.insert().values(
                key_id=kid,
                subsystem_id=sub_uuid,
                alg=httpsig.algorithm_of(key),
                public_pem=httpsig.public_pem(key),
                private_sealed=private_sealed,
                status="active",
                created_at=clock.now(),
            )
        )
        uow.audit(_audit(actor, "exchange.subsystem.key_added", str(sid), {"key_id": kid}))
        await _commit(uow)
    return NewSubsystem(sid, kid)


def _public_key(pem: str) -> httpsig.PublicKey:
    try:
        return httpsig.load_public_pem(pem)
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(
            errors=[FieldError(("public_key",), "Give an Ed25519 or ECDSA P-256 public key in PEM")]
        ) from exc


async def revoke_key(db: Database, actor: Principal, key_id: str) -> None:
    require(actor, MANAGE)
    async with db.uow() as uow:
        done = await uow.session.execute(
            update(keys_t).where(keys_t.c.key_id == key_id).values(status="revoked", revoked_at=clock.now())
        )
        if not done.rowcount:  # type: ignore[attr-defined]
            raise NotFound("No key {key_id}", params={"key_id": key_id})
        uow.audit(_audit(actor, "exchange.key.revoked", key_id))
        await _commit(uow)


async def set_member_status(
    db: Database, actor: Principal, member: str, status: str, *, instance: str
) -> None:
    """active (approve a registration), revoked (suspend a member: its calls are refused)."""
    require(actor, MANAGE)
    mid = member_id(member, instance=instance)
    async with db.uow() as uow:
        row = await _member_row(uow.session, mid)
        if row is None:
            raise NotFound("No member {member}", params={"member": str(mid)})
        await uow.session.execute(update(members_t).where(members_t.c.id == row.id).values(status=status))
        if status == "active":  # approving a member approves its pending subsystems with it
            await uow.session.execute(
                update(subsystems_t)
                .where(subsystems_t.c.member_id == row.id, subsystems_t.c.status == "pending")
                .values(status="active")
            )
        uow.audit(_audit(actor, f"exchange.member.{status}", str(mid)))
        await _commit(uow)


async def publish_service(
    db: Database,
    actor: Principal,
    *,
    subsystem: str,
    code: str,
    title: str,
    kind: str,
    target: str,
    operations: list[dict[str, Any]],
    openapi: dict[str, Any],
) -> ServiceId:
    require(actor, MANAGE)
    sid = subsystem_id(subsystem, "subsystem")
    sv = service_id(f"{sid}/{code}")
    async with db.uow() as uow:
        sub = await _subsystem_row(uow.session, sid)
        if sub is None:
            raise NotFound("No subsystem {subsystem}", params={"subsystem": str(sid)})
        existing = await _service_row(uow.session, sv)
        values = dict(title=title, kind=kind, target=target, operations=operations, openapi=openapi)
        if existing is None:
            await uow.session.execute(
                services_t.insert().values(
                    id=new_id(), subsystem_id=sub.id, code=sv.code, created_at=clock.now(), **values
                )
            )
        else:
            await uow.session.execute(
                update(services_t).where(services_t.c.id == existing.id).values(**values)
            )
        uow.audit(_audit(actor, "exchange.service.published", str(sv), {"kind": kind, "target": target}))
        await _commit(uow)
    return sv


async def grant(db: Database, actor: Principal, *, client: str, service: str, operation: str = "") -> None:
    require(actor, MANAGE)
    cid, sv = subsystem_id(client, "client"), service_id(service)
    async with db.uow() as uow:
        s = uow.session
        crow = await _subsystem_row(s, cid)
        if crow is None:
            raise NotFound("No subsystem {subsystem}", params={"subsystem": str(cid)})
        srow = await _service_row(s, sv)
        if srow is None:
            raise NotFound("No service {service}", params={"service": str(sv)})
        if operation and operation not in {o["id"] for o in srow.operations}:
            raise ValidationFailed(errors=[FieldError(("operation",), "The service has no such operation")])
        exists = (
            await s.execute(
                select(rights_t.c.id).where(
                    rights_t.c.client_id == crow.id,
                    rights_t.c.service_id == srow.id,
                    rights_t.c.operation == operation,
                )
            )
        ).first()
        if exists is None:
            await s.execute(
                rights_t.insert().values(
                    id=new_id(),
                    client_id=crow.id,
                    service_id=srow.id,
                    operation=operation,
                    granted_by=actor.ref,
                    granted_at=clock.now(),
                )
            )
            uow.audit(
                _audit(actor, "exchange.right.granted", str(sv), {"client": str(cid), "operation": operation})
            )
        await _commit(uow)


async def revoke_right(
    db: Database, actor: Principal, *, client: str, service: str, operation: str = ""
) -> None:
    require(actor, MANAGE)
    cid, sv = subsystem_id(client, "client"), service_id(service)
    async with db.uow() as uow:
        s = uow.session
        crow, srow = await _subsystem_row(s, cid), await _service_row(s, sv)
        if crow is None or srow is None:
            raise NotFound("No such access right")
        await s.execute(
            rights_t.delete().where(
                rights_t.c.client_id == crow.id,
                rights_t.c.service_id == srow.id,
                rights_t.c.operation == operation,
            )
        )
        uow.audit(
            _audit(actor, "exchange.right.revoked", str(sv), {"client": str(cid), "operation": operation})
        )
        await _commit(uow)


# --- reading the directory -------------------------------------------------------------------------


def _addr(row: Any) -> str:
    return f"{row.instance}/{row.member_class}/{row.mcode}"


async def members(db: Database) -> list[dict[str, Any]]:
    async with db.uow(readonly=True) as uow:
        ms = (
            await uow.session.execute(select(members_t).order_by(members_t.c.member_class, members_t.c.code))
        ).all()
        subs = (await uow.session.execute(select(subsystems_t).order_by(subsystems_t.c.code))).all()
        ks = (await uow.session.execute(select(keys_t).order_by(keys_t.c.created_at))).all()
    by_member: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for s in subs:
        by_member.setdefault(s.member_id, []).append(
            {
                "code": s.code,
                "status": s.status,
                "server_url": s.server_url,
                "keys": [
                    {"key_id": k.key_id, "alg": k.alg, "status": k.status, "public_key": k.public_pem}
                    for k in ks
                    if k.subsystem_id == s.id
                ],
            }
        )
    out = []
    for m in ms:
        addr = f"{m.instance}/{m.member_class}/{m.code}"
        subsystems = by_member.get(m.id, [])
        for sub in subsystems:
            sub["address"] = f"{addr}/{sub['code']}"
        out.append(
            {
                "address": addr,
                "instance": m.instance,
                "class": m.member_class,
                "code": m.code,
                "name": m.name,
                "status": m.status,
                "subsystems": subsystems,
            }
        )
    return out


def _service_query() -> Any:
    m, sub = members_t, subsystems_t
    return (
        select(
            services_t,
            m.c.instance,
            m.c.member_class,
            m.c.code.label("mcode"),
            m.c.name.label("member_name"),
            sub.c.code.label("scode"),
            sub.c.server_url,
        )
        .join(sub, sub.c.id == services_t.c.subsystem_id)
        .join(m, m.c.id == sub.c.member_id)
        .order_by(m.c.code, sub.c.code, services_t.c.code)
    )


def _service_dict(r: Any) -> dict[str, Any]:
    sub = f"{_addr(r)}/{r.scode}"
    return {
        "address": f"{sub}/{r.code}",
        "subsystem": sub,
        "code": r.code,
        "title": r.title,
        "kind": r.kind,
        "target": r.target,
        "provider": r.member_name,
        "server_url": r.server_url,
        "path": f"/r1/{sub}/{r.code}",
        "operations": [
            {"id": o["id"], "method": o["method"], "path": o["path"], "url": f"/r1/{sub}/{r.code}{o['path']}"}
            for o in r.operations
        ],
    }


async def services(db: Database, *, subsystem: SubsystemId | None = None) -> list[dict[str, Any]]:
    q = _service_query()
    if subsystem is not None:
        q = q.where(
            and_(
                members_t.c.instance == subsystem.member.instance,
                members_t.c.member_class == subsystem.member.member_class,
                members_t.c.code == subsystem.member.code,
                subsystems_t.c.code == subsystem.code,
            )
        )
    async with db.uow(readonly=True) as uow:
        return [_service_dict(r) for r in (await uow.session.execute(q)).all()]


async def openapi_of(db: Database, sv: ServiceId) -> dict[str, Any] | None:
    async with db.uow(readonly=True) as uow:
        row = await _service_row(uow.session, sv)
    return None if row is None else dict(row.openapi)


async def rights(db: Database) -> list[dict[str, Any]]:
    c_sub, c_mem = subsystems_t.alias("csub"), members_t.alias("cmem")
    q = (
        select(
            rights_t.c.operation,
            rights_t.c.granted_at,
            rights_t.c.granted_by,
            c_mem.c.instance.label("ci"),
            c_mem.c.member_class.label("cc"),
            c_mem.c.code.label("cm"),
            c_sub.c.code.label("cs"),
            services_t.c.id.label("service_id"),
        )
        .join(c_sub, c_sub.c.id == rights_t.c.client_id)
        .join(c_mem, c_mem.c.id == c_sub.c.member_id)
        .join(services_t, services_t.c.id == rights_t.c.service_id)
    )
    async with db.uow(readonly=True) as uow:
        rows = (await uow.session.execute(q)).all()
        svc = {r.id: _service_dict(r)["address"] for r in (await uow.session.execute(_service_query())).all()}
    return sorted(
        (
            {
                "client": f"{r.ci}/{r.cc}/{r.cm}/{r.cs}",
                "service": svc[r.service_id],
                "operation": r.operation,
                "granted_at": r.granted_at.isoformat(),
                "granted_by": r.granted_by,
            }
            for r in rows
        ),
        key=lambda d: (d["client"], d["service"], d["operation"]),
    )


async def allowed_services(db: Database, client: SubsystemId) -> list[dict[str, Any]]:
    allowed = {(r["service"], r["operation"]) for r in await rights(db) if r["client"] == str(client)}
    out = []
    for s in await services(db):
        ops = [
            o for o in s["operations"] if (s["address"], "") in allowed or (s["address"], o["id"]) in allowed
        ]
        if ops:
            out.append({**s, "operations": ops})
    return out


# --- registrations from other nodes: pending until an operator approves them -------------------------


@dataclass(frozen=True)
class Registration:
    address: SubsystemId
    key_id: str
    status: str


async def submit_registration(
    db: Database,
    *,
    instance: str,
    member_class: str,
    member_code: str,
    member_name: str,
    subsystem_code: str,
    public_key_pem: str,
    server_url: str = "",
) -> Registration:
    """A subsystem (and its member, if new) asks to join; both wait as `pending` for the operator. The
    caller has already proved it holds the key (the request is signed with it)."""
    mid = MemberId(
        check_code(instance, "instance"), check_class(member_class), check_code(member_code, "code")
    )
    sid = SubsystemId(mid, check_code(subsystem_code, "subsystem"))
    if not member_name.strip():
        raise ValidationFailed(errors=[FieldError(("member_name",), "This field is required")])
    key = _public_key(public_key_pem)
    kid = httpsig.jwk_thumbprint(key)
    now = clock.now()
    async with db.uow() as uow:
        s = uow.session
        mrow = await _member_row(s, mid)
        if mrow is None:
            member_uuid = new_id()
            await s.execute(
                members_t.insert().values(
                    id=member_uuid,
                    instance=mid.instance,
                    member_class=mid.member_class,
                    code=mid.code,
                    name=member_name.strip(),
                    status="pending",
                    created_at=now,
                )
            )
        else:
            member_uuid = mrow.id
        if await _subsystem_row(s, sid) is not None:
            raise Conflict("Subsystem {subsystem} is already registered", params={"subsystem": str(sid)})
        sub_uuid = new_id()
        await s.execute(
            subsystems_t.insert().values(
                id=sub_uuid,
                member_id=member_uuid,
                code=sid.code,
                status="pending",
                server_url=server_url,
                created_at=now,
            )
        )
        if (await s.execute(select(keys_t.c.key_id).where(keys_t.c.key_id == kid))).first() is not None:
            raise Conflict("This key is already registered ({key_id})", params={"key_id": kid})
        await s.execute(
            keys_t.insert().values(
                key_id=kid,
                subsystem_id=sub_uuid,
                alg=httpsig.algorithm_of(key),
                public_pem=httpsig.public_pem(key),
                private_sealed=None,
                status="active",
                created_at=now,
            )
        )
        uow.audit(
            AuditEntry(
                actor=f"registration:{sid}",
                action="exchange.registration.submitted",
                object_type="exchange",
                object_id=str(sid),
                details={"key_id": kid, "server_url": server_url},
            )
        )
        await _commit(uow)
    return Registration(sid, kid, "pending")


async def approve(db: Database, actor: Principal, subsystem: str) -> None:
    """Approve a pending subsystem (and its member, if that is pending too)."""
    require(actor, MANAGE)
    sid = subsystem_id(subsystem, "subsystem")
    async with db.uow() as uow:
        row = await _subsystem_row(uow.session, sid)
        if row is None:
            raise NotFound("No subsystem {subsystem}", params={"subsystem": str(sid)})
        await uow.session.execute(
            update(subsystems_t).where(subsystems_t.c.id == row.id).values(status="active")
        )
        if row.member_status == "pending":
            await uow.session.execute(
                update(members_t).where(members_t.c.id == row.member_id).values(status="active")
            )
        uow.audit(_audit(actor, "exchange.registration.approved", str(sid)))
        await _commit(uow)
