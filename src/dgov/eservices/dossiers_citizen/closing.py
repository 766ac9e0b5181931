"""After submission: withdraw the dossier, rate the service once it has ended."""

from __future__ import annotations

import uuid

from sqlalchemy import update

from dgov.eservices import dossiers
from dgov.eservices.dossiers import Dossier
from dgov.eservices.dossiers_citizen.common import MAX_MESSAGE, load_own
from dgov.eservices.models import dossiers as t_dossiers
from dgov.identity import Principal, audit_by
from dgov.kernel.errors import Conflict, FieldError, ValidationFailed
from dgov.kernel.uow import Database


async def withdraw(db: Database, p: Principal, dossier_id: uuid.UUID, reason: str) -> Dossier:
    async with db.uow() as uow:
        await load_own(uow, p, dossier_id)
        d = await dossiers.transition(
            uow, dossier_id, dossiers.WITHDRAWN, actor=p, note=reason.strip() or None
        )
        await uow.commit()
        return d


async def rate(db: Database, p: Principal, dossier_id: uuid.UUID, stars: int, comment: str = "") -> Dossier:
    async with db.uow() as uow:
        d = await load_own(uow, p, dossier_id)
        if d.status not in (dossiers.RESULT_ISSUED, dossiers.REJECTED):
            raise Conflict("You can rate the service once the dossier has ended")
        if d.rating is not None:
            raise Conflict("You have already rated this service")
        if not 1 <= stars <= 5:
            raise ValidationFailed(errors=[FieldError(("rating",), "Choose from 1 to 5 stars")])
        if len(comment) > MAX_MESSAGE:
            raise ValidationFailed(errors=[FieldError(("comment",), "This is too long")])
        await uow.session.execute(
            update(t_dossiers)
            .where(t_dossiers.c.id == d.id, t_dossiers.c.rating.is_(None))
            .values(rating=stars, rating_comment=comment.strip() or None)
        )
        uow.audit(
            audit_by(
                p,
                action="eservices.dossier.rated",
                object_type="dossier",
                object_id=d.ref,
                details={"rating": stars},
            )
        )
        uow.publish(
            "eservices.dossier.rated", {"dossier_id": str(d.id), "code": d.code, "rating": stars}, key=d.ref
        )
        await uow.commit()
        return await dossiers.get(uow, d.id)
