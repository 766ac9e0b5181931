"""Access rights: which client subsystem may call which service (or one of its operations)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from dgov.exchange.addresses import SubsystemId, service_id, subsystem_id
from dgov.exchange.directory_rows import MANAGE, audit, commit, service_row, subsystem_row
from dgov.exchange.directory_services import service_dict, service_query, services
from dgov.exchange.models import members_t, rights_t, services_t, subsystems_t
from dgov.identity import Principal, require
from dgov.kernel import clock
from dgov.kernel.errors import FieldError, NotFound, ValidationFailed
from dgov.kernel.ids import new_id
from dgov.kernel.uow import Database


async def grant(db: Database, actor: Principal, *, client: str, service: str, operation: str = "") -> None:
    require(actor, MANAGE)
    cid, sv = subsystem_id(client, "client"), service_id(service)
    async with db.uow() as uow:
        s = uow.session
        crow = await subsystem_row(s, cid)
        if crow is None:
            raise NotFound("No subsystem {subsystem}", params={"subsystem": str(cid)})
        srow = await service_row(s, sv)
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
                audit(actor, "exchange.right.granted", str(sv), {"client": str(cid), "operation": operation})
            )
        await commit(uow)


async def revoke_right(
    db: Database, actor: Principal, *, client: str, service: str, operation: str = ""
) -> None:
    require(actor, MANAGE)
    cid, sv = subsystem_id(client, "client"), service_id(service)
    async with db.uow() as uow:
        s = uow.session
        crow, srow = await subsystem_row(s, cid), await service_row(s, sv)
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
            audit(actor, "exchange.right.revoked", str(sv), {"client": str(cid), "operation": operation})
        )
        await commit(uow)


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
        svc = {r.id: service_dict(r)["address"] for r in (await uow.session.execute(service_query())).all()}
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
