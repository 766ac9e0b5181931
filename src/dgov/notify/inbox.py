"""The citizen's in-app inbox: messages addressed to their account or to their ID number."""

from __future__ import annotations

import uuid

from sqlalchemy import or_, select, update

from dgov.identity import Principal
from dgov.kernel import clock
from dgov.kernel.errors import Forbidden
from dgov.kernel.uow import Database
from dgov.notify.models import Notification


def _mine(p: Principal, id_number: str | None) -> list[object]:
    conds: list[object] = [Notification.account_id == str(p.account_id)]
    if id_number:
        conds.append(Notification.person == id_number)
    return conds


async def inbox(db: Database, p: Principal, id_number: str | None, *, limit: int = 100) -> list[Notification]:
    if p.kind != "citizen" or p.account_id is None:
        raise Forbidden()
    async with db.uow(readonly=True) as uow:
        return list(
            await uow.session.scalars(
                select(Notification)
                .where(Notification.channel == "inbox", or_(*_mine(p, id_number)))  # type: ignore[arg-type]
                .order_by(Notification.created_at.desc())
                .limit(limit)
            )
        )


async def mark_read(
    db: Database, p: Principal, id_number: str | None, ids: list[uuid.UUID] | None = None
) -> int:
    if p.kind != "citizen" or p.account_id is None:
        raise Forbidden()
    q = update(Notification).where(
        Notification.channel == "inbox",
        Notification.read_at.is_(None),
        or_(*_mine(p, id_number)),  # type: ignore[arg-type]
    )
    if ids:
        q = q.where(Notification.id.in_(ids))
    async with db.uow() as uow:
        n = (await uow.session.execute(q.values(read_at=clock.now()))).rowcount  # type: ignore[attr-defined]
        await uow.commit()
    return int(n or 0)
