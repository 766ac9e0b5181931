"""Bearer access tokens presented to dgov's own APIs: the resource-server side of the OIDC provider.

The provider stores only the SHA-256 of each access token (identity_oauth_tokens.access_hash), so a
token is looked up by its digest. A token is good while it has not expired, has not been revoked, its
client is not disabled and, when it was issued for a person, that person's account is still active.

The principal is always an OAuth client (kind "client"): what it may do is decided by its scopes in each
action's rule. A token issued for a person carries that person's account id and ID number, but never
the person's own powers: an application acting for someone is not that someone.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from dgov.identity.authz import Principal
from dgov.identity.models import Account, OAuthClient, OAuthToken
from dgov.identity.oidc.claims import LEVEL2
from dgov.kernel import clock
from dgov.kernel.uow import Database


@dataclass(frozen=True)
class BearerAccess:
    principal: Principal
    client_name: str
    # The person the token was issued for (authorization code flow); None for client credentials.
    account_id: uuid.UUID | None = None
    id_number: str | None = None


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def bearer_access(db: Database, token: str) -> BearerAccess | None:
    """Who presents this access token, or None when it is unknown, expired, revoked or disabled."""
    if not token or len(token) > 512:
        return None
    query = (
        select(
            OAuthToken.client_id,
            OAuthToken.account_id,
            OAuthToken.scope,
            OAuthToken.acr,
            OAuthToken.expires_at,
            OAuthToken.revoked_at,
            OAuthClient.name,
            OAuthClient.disabled_at,
            Account.status,
            Account.id_number,
        )
        .join(OAuthClient, OAuthClient.client_id == OAuthToken.client_id)
        .outerjoin(Account, Account.id == OAuthToken.account_id)
        .where(OAuthToken.access_hash == token_digest(token))
    )
    async with db.uow(readonly=True) as uow:
        row = (await uow.session.execute(query)).first()
    if row is None or row.revoked_at is not None or row.disabled_at is not None:
        return None
    if row.expires_at <= clock.now():
        return None
    if row.account_id is not None and row.status != "active":
        return None
    principal = Principal(
        kind="client",
        client_id=row.client_id,
        scopes=frozenset(row.scope.split()),
        account_id=row.account_id,
        level=(2 if row.acr == LEVEL2 else 1) if row.account_id is not None else 0,
    )
    return BearerAccess(
        principal=principal, client_name=row.name, account_id=row.account_id, id_number=row.id_number
    )
