"""Following: the applicant's dossiers, and one dossier with its timeline and messages."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from dgov.eservices import dossiers
from dgov.eservices.dossiers import Dossier
from dgov.eservices.dossiers_citizen.messages import Message, messages_of
from dgov.eservices.models import dossiers as t_dossiers
from dgov.identity import Principal, require
from dgov.kernel.uow import Database


async def mine(db: Database, p: Principal) -> list[Dossier]:
    require(p, "eservices.dossier.create")
    async with db.uow(readonly=True) as uow:
        rows = (
            (
                await uow.session.execute(
                    select(t_dossiers)
                    .where(t_dossiers.c.applicant_account == p.account_id)
                    .order_by(t_dossiers.c.created_at.desc())
                )
            )
            .mappings()
            .all()
        )
    return [Dossier.from_row(r) for r in rows]


async def follow(
    db: Database, p: Principal, dossier_id: uuid.UUID
) -> tuple[Dossier, list[dossiers.Event], list[Message]]:
    """A dossier with its timeline and messages, for whoever may see it."""
    async with db.uow(readonly=True) as uow:
        d = await dossiers.get(uow, dossier_id)
        require(p, "eservices.dossier.view", d)
        return d, await dossiers.events_of(uow, d.id), await messages_of(uow, d.id)
