"""The directory's members, subsystems and their keys, and registrations from other nodes.

Every change is the operator's (or the system's, for the demo and the command line) and is audited.
Registrations arriving from other nodes wait as `pending` until an operator approves them. Services
are in `directory_services`, access rights in `directory_rights`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from dgov.exchange import httpsig
from dgov.exchange.addresses import MemberId, SubsystemId, check_class, check_code, member_id, subsystem_id
from dgov.exchange.directory_rows import MANAGE, audit, commit, member_row, public_key, subsystem_row
from dgov.exchange.models import keys_t, members_t, subsystems_t
from dgov.identity import Principal, require
from dgov.kernel import clock
from dgov.kernel.audit import AuditEntry
from dgov.kernel.errors import Conflict, FieldError, NotFound, Unauthenticated, ValidationFailed
from dgov.kernel.ids import new_id
from dgov.kernel.uow import Database


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
        if await member_row(uow.session, mid) is not None:
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
        uow.audit(audit(actor, "exchange.member.added", str(mid), {"name": name.strip(), "status": status}))
        await commit(uow)
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
    key = public_key(public_key_pem)
    kid = key_id or httpsig.jwk_thumbprint(key)
    async with db.uow() as uow:
        s = uow.session
        mrow = await member_row(s, mid)
        if mrow is None:
            raise NotFound("No member {member}", params={"member": str(mid)})
        row = await subsystem_row(s, sid)
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
        uow.audit(audit(actor, "exchange.subsystem.key_added", str(sid), {"key_id": kid}))
        await commit(uow)
    return NewSubsystem(sid, kid)


async def revoke_key(db: Database, actor: Principal, key_id: str) -> None:
    require(actor, MANAGE)
    async with db.uow() as uow:
        done = await uow.session.execute(
            update(keys_t).where(keys_t.c.key_id == key_id).values(status="revoked", revoked_at=clock.now())
        )
        if not done.rowcount:  # type: ignore[attr-defined]
            raise NotFound("No key {key_id}", params={"key_id": key_id})
        uow.audit(audit(actor, "exchange.key.revoked", key_id))
        await commit(uow)


async def set_member_status(
    db: Database, actor: Principal, member: str, status: str, *, instance: str
) -> None:
    """active (approve a registration), revoked (suspend a member: its calls are refused)."""
    require(actor, MANAGE)
    mid = member_id(member, instance=instance)
    async with db.uow() as uow:
        row = await member_row(uow.session, mid)
        if row is None:
            raise NotFound("No member {member}", params={"member": str(mid)})
        await uow.session.execute(update(members_t).where(members_t.c.id == row.id).values(status=status))
        if status == "active":  # approving a member approves its pending subsystems with it
            await uow.session.execute(
                update(subsystems_t)
                .where(subsystems_t.c.member_id == row.id, subsystems_t.c.status == "pending")
                .values(status="active")
            )
        uow.audit(audit(actor, f"exchange.member.{status}", str(mid)))
        await commit(uow)


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


# --- registrations from other nodes: pending until an operator approves them -------------------------


class MemberSignatureRequired(Unauthenticated):
    code = "member-signature-required"


# Given the member's keys ({key id: (public key, algorithm)}), return the key id that signed for it.
MemberProof = Callable[[Mapping[str, tuple[httpsig.PublicKey, str]]], str]


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
    member_proof: MemberProof | None = None,
) -> Registration:
    """A subsystem (and its member, if new) asks to join; both wait as `pending` for the operator. The
    caller has already proved it holds the key (the request is signed with it).

    Under a member that already exists the request must also speak for that member: `member_proof` is
    given the member's registered keys and returns the one that signed (or raises). Otherwise anyone
    could queue subsystems, with keys of their choosing, under another agency's name."""
    mid = MemberId(
        check_code(instance, "instance"), check_class(member_class), check_code(member_code, "code")
    )
    sid = SubsystemId(mid, check_code(subsystem_code, "subsystem"))
    if not member_name.strip():
        raise ValidationFailed(errors=[FieldError(("member_name",), "This field is required")])
    key = public_key(public_key_pem)
    kid = httpsig.jwk_thumbprint(key)
    now = clock.now()
    signed_by: str | None = None
    async with db.uow() as uow:
        s = uow.session
        mrow = await member_row(s, mid)
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
            keys = await _member_keys(s, mrow)
            try:
                if member_proof is None or not keys:
                    raise httpsig.SignatureError("member-signature-missing", "no member signature")
                signed_by = member_proof(keys)
            except httpsig.SignatureError as exc:
                raise MemberSignatureRequired(
                    "{member} is already registered: also sign the registration with one of its keys",
                    params={"member": str(mid)},
                    extra={"reason": exc.reason},
                ) from None
        if await subsystem_row(s, sid) is not None:
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
                details={"key_id": kid, "server_url": server_url, "member_key_id": signed_by},
            )
        )
        await commit(uow)
    return Registration(sid, kid, "pending")


async def _member_keys(s: Any, member: Any) -> dict[str, tuple[httpsig.PublicKey, str]]:
    """The keys that speak for a member: active keys of its active subsystems (of its pending ones too
    while the member itself still waits for approval: its first registrant's)."""
    allowed = ("active", "pending") if member.status == "pending" else ("active",)
    if member.status == "revoked":
        return {}
    rows = (
        await s.execute(
            select(keys_t.c.key_id, keys_t.c.public_pem, keys_t.c.alg)
            .join(subsystems_t, subsystems_t.c.id == keys_t.c.subsystem_id)
            .where(
                subsystems_t.c.member_id == member.id,
                subsystems_t.c.status.in_(allowed),
                keys_t.c.status == "active",
            )
        )
    ).all()
    return {r.key_id: (httpsig.load_public_pem(r.public_pem), r.alg) for r in rows}


async def approve(db: Database, actor: Principal, subsystem: str) -> None:
    """Approve a pending subsystem (and its member, if that is pending too)."""
    require(actor, MANAGE)
    sid = subsystem_id(subsystem, "subsystem")
    async with db.uow() as uow:
        row = await subsystem_row(uow.session, sid)
        if row is None:
            raise NotFound("No subsystem {subsystem}", params={"subsystem": str(sid)})
        await uow.session.execute(
            update(subsystems_t).where(subsystems_t.c.id == row.id).values(status="active")
        )
        if row.member_status == "pending":
            await uow.session.execute(
                update(members_t).where(members_t.c.id == row.member_id).values(status="active")
            )
        uow.audit(audit(actor, "exchange.registration.approved", str(sid)))
        await commit(uow)
