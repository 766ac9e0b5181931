"""Messages on a dossier between its applicant and the officials who process it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from dgov.eservices import dossiers
from dgov.eservices.dossiers_citizen.common import MAX_MESSAGE
from dgov.eservices.models import messages as t_messages
from dgov.identity import Principal, audit_by, require
from dgov.kernel import clock
from dgov.kernel.errors import FieldError, ValidationFailed
from dgov.kernel.ids import new_id
from dgov.kernel.uow import Database, UnitOfWork


@dataclass(frozen=True)
class Message:
    id: uuid.UUID
    at: datetime
    sender_kind: str
    sender_name: str
    body: str


async def post_message(
    db: Database, p: Principal, dossier_id: uuid.UUID, body: str, *, sender_name: str
) -> Message:
    """A message on the dossier, from its applicant or from an official who processes it."""
    body = body.strip()
    if not body:
        raise ValidationFailed(errors=[FieldError(("body",), "Write a message")])
    if len(body) > MAX_MESSAGE:
        raise ValidationFailed(errors=[FieldError(("body",), "This is too long")])
    async with db.uow() as uow:
        d = await dossiers.get(uow, dossier_id)
        require(p, "eservices.dossier.view", d)
        if p.kind == "citizen":
            require(p, "eservices.dossier.applicant", d)
            kind = "citizen"
        else:
            require(p, "eservices.dossier.process", d)
            kind = "official"
        msg = Message(new_id(), clock.now(), kind, sender_name, body)
        await uow.session.execute(
            t_messages.insert().values(
                id=msg.id,
                dossier_id=d.id,
                at=msg.at,
                sender_kind=kind,
                sender=p.ref,
                sender_name=sender_name,
                body=body,
            )
        )
        uow.audit(audit_by(p, action="eservices.dossier.message", object_type="dossier", object_id=d.ref))
        uow.publish(
            "eservices.dossier.message", {"dossier_id": str(d.id), "code": d.code, "from": kind}, key=d.ref
        )
        await uow.commit()
        return msg


async def messages_of(uow: UnitOfWork, dossier_id: uuid.UUID) -> list[Message]:
    rows = (
        (
            await uow.session.execute(
                select(t_messages)
                .where(t_messages.c.dossier_id == dossier_id)
                .order_by(t_messages.c.at, t_messages.c.id)
            )
        )
        .mappings()
        .all()
    )
    return [Message(r["id"], r["at"], r["sender_kind"], r["sender_name"], r["body"]) for r in rows]
