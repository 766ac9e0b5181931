"""Services in the directory: publishing them with their operations and OpenAPI, and listing them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, select, update

from dgov.exchange.addresses import ServiceId, SubsystemId, service_id, subsystem_id
from dgov.exchange.directory_rows import MANAGE, audit, commit, service_row, subsystem_row
from dgov.exchange.models import members_t, services_t, subsystems_t
from dgov.identity import Principal, require
from dgov.kernel import clock
from dgov.kernel.errors import NotFound
from dgov.kernel.ids import new_id
from dgov.kernel.uow import Database


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
        sub = await subsystem_row(uow.session, sid)
        if sub is None:
            raise NotFound("No subsystem {subsystem}", params={"subsystem": str(sid)})
        existing = await service_row(uow.session, sv)
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
        uow.audit(audit(actor, "exchange.service.published", str(sv), {"kind": kind, "target": target}))
        await commit(uow)
    return sv


def _addr(row: Any) -> str:
    return f"{row.instance}/{row.member_class}/{row.mcode}"


def service_query() -> Any:
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


def service_dict(r: Any) -> dict[str, Any]:
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
    q = service_query()
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
        return [service_dict(r) for r in (await uow.session.execute(q)).all()]


async def openapi_of(db: Database, sv: ServiceId) -> dict[str, Any] | None:
    async with db.uow(readonly=True) as uow:
        row = await service_row(uow.session, sv)
    return None if row is None else dict(row.openapi)
