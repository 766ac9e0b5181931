"""Connected applications: what a person consented to share with which client, and revoking it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from dgov.identity.authz import Principal
from dgov.identity.context import IdentityContext
from dgov.identity.models import Consent, OAuthClient, OAuthToken
from dgov.kernel import clock
from dgov.kernel.audit import AuditEntry
from dgov.kernel.errors import NotFound


@dataclass(frozen=True)
class Connection:
    client_id: str
    client_name: str
    scopes: list[str]
    granted_at: datetime


async def connections_of(ctx: IdentityContext, actor: Principal) -> list[Connection]:
    async with ctx.db.uow(readonly=True) as uow:
        rows = await uow.session.execute(
            select(Consent, OAuthClient.name)
            .join(OAuthClient, OAuthClient.client_id == Consent.client_id)
            .where(Consent.account_id == actor.account_id, Consent.revoked_at.is_(None))
            .order_by(Consent.granted_at.desc())
        )
        return [Connection(c.client_id, name, list(c.scopes), c.granted_at) for c, name in rows]


async def revoke_connection(ctx: IdentityContext, actor: Principal, *, client_id: str) -> None:
    """Withdraw consent and end every token the client holds for this person, at once."""
    now = clock.now()
    async with ctx.db.uow() as uow:
        res = await uow.session.execute(
            update(Consent)
            .where(
                Consent.account_id == actor.account_id,
                Consent.client_id == client_id,
                Consent.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        if not res.rowcount:  # type: ignore[attr-defined]
            raise NotFound("No such connected application")
        await uow.session.execute(
            update(OAuthToken)
            .where(
                OAuthToken.account_id == actor.account_id,
                OAuthToken.client_id == client_id,
                OAuthToken.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        uow.audit(
            AuditEntry(
                actor=actor.ref, action="identity.consent_revoked", object_type="client", object_id=client_id
            )
        )
        await uow.commit()
