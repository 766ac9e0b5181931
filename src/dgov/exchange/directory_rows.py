"""What the directory's use cases share: their permissions, row lookups and the change counter.

The counter is per process: gateways compare it to drop their cached lookups as soon as this process
commits a directory change (changes made by other processes reach them when the cache expires).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dgov.exchange import httpsig
from dgov.exchange.addresses import MemberId, ServiceId, SubsystemId
from dgov.exchange.models import members_t, services_t, subsystems_t
from dgov.identity import Principal, audit_by, is_operator, register
from dgov.kernel.audit import AuditEntry
from dgov.kernel.errors import FieldError, ValidationFailed
from dgov.kernel.uow import UnitOfWork

MANAGE = "exchange.directory.manage"
_generation = 0


def generation() -> int:
    """Bumped after every directory change committed by this process (gateways drop their caches)."""
    return _generation


def changed() -> None:
    global _generation
    _generation += 1


async def commit(uow: UnitOfWork) -> None:
    await uow.commit()
    changed()


READ_LOG = "exchange.log.read"


@register(MANAGE)
def _manage(p: Principal, _resource: Any) -> bool:
    return is_operator(p) and p.level >= 2


@register(READ_LOG)
def _read_log(p: Principal, _resource: Any) -> bool:
    return is_operator(p) and p.level >= 1


def audit(actor: Principal, action: str, obj: str, details: dict[str, Any] | None = None) -> AuditEntry:
    return audit_by(actor, action=action, object_type="exchange", object_id=obj, details=details or {})


async def member_row(s: AsyncSession, m: MemberId) -> Any:
    return (
        await s.execute(
            select(members_t).where(
                members_t.c.instance == m.instance,
                members_t.c.member_class == m.member_class,
                members_t.c.code == m.code,
            )
        )
    ).one_or_none()


async def subsystem_row(s: AsyncSession, sid: SubsystemId) -> Any:
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


async def service_row(s: AsyncSession, sv: ServiceId) -> Any:
    sub = await subsystem_row(s, sv.subsystem)
    if sub is None:
        return None
    return (
        await s.execute(
            select(services_t).where(services_t.c.subsystem_id == sub.id, services_t.c.code == sv.code)
        )
    ).one_or_none()


def public_key(pem: str) -> httpsig.PublicKey:
    try:
        return httpsig.load_public_pem(pem)
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(
            errors=[FieldError(("public_key",), "Give an Ed25519 or ECDSA P-256 public key in PEM")]
        ) from exc
