"""What Authlib's synchronous server sees of dgov: the per-call store and adapters over our rows.

Authlib calls its storage hooks synchronously. Each endpoint runs the whole Authlib call inside
`AsyncSession.run_sync`, so the hooks use a synchronous Session over the same connection and
transaction as the unit of work (per-test transactions and both databases keep working), and the
audit entries they queue are committed with the change they describe. The store travels in a context
variable set inside the synchronous function: run_sync's greenlet does not inherit the caller's context.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from authlib.oidc.core import AuthorizationCodeMixin
from sqlalchemy.orm import Session

from dgov.identity.clients import secret_matches
from dgov.identity.context import IdentityContext
from dgov.identity.models import Account, AuthorizationCode, OAuthClient, OAuthToken
from dgov.identity.oidc.claims import USER_SCOPES, pairwise_sub
from dgov.identity.sessions import Authenticated
from dgov.kernel import clock
from dgov.kernel.audit import AuditEntry
from dgov.kernel.uow import UnitOfWork

T = TypeVar("T")

# Token ids derived from a code: a replayed code finds (and revokes) what it was exchanged for.
_GRANT_NS = uuid.UUID("5b0e7c2e-6f44-4b8e-9d7a-0c1f3e2a9b61")


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def grant_id_for_code(code_hash: str) -> uuid.UUID:
    return uuid.uuid5(_GRANT_NS, code_hash)


@dataclass
class Store:
    session: Session
    uow: UnitOfWork
    ctx: IdentityContext
    now: datetime
    endpoint: str
    ip: str | None = None
    login: Authenticated | None = None
    request: Any = None  # the OAuth2Request being served (the userinfo endpoint reads it back)
    reason: str | None = None  # the precise cause of a failure, noted where it is found, for the audit
    cache: dict[str, Any] = field(default_factory=dict)

    def audit(self, entry: AuditEntry) -> None:
        self.uow.audit(entry)


_current: ContextVar[Store] = ContextVar("dgov_oidc_store")


def current() -> Store:
    return _current.get()


async def run(
    ctx: IdentityContext,
    endpoint: str,
    fn: Callable[[Store], T],
    *,
    ip: str | None = None,
    login: Authenticated | None = None,
) -> T:
    """Run `fn` (Authlib work) synchronously inside one unit of work, then commit what it did and audited.

    Failures are committed too: their audit records, a consumed code, a replayed grant's revocation.
    Anything unexpected propagates and the unit of work rolls back.
    """
    async with ctx.db.uow() as uow:

        def inner(session: Session) -> T:
            token = _current.set(Store(session, uow, ctx, clock.now(), endpoint, ip, login))
            try:
                return fn(_current.get())
            finally:
                _current.reset(token)

        result = await uow.session.run_sync(inner)
        await uow.commit()
    return result


# --- adapters ---------------------------------------------------------------------------------------


class Client(ClientMixin):  # type: ignore[misc]
    def __init__(self, row: OAuthClient) -> None:
        self.row = row

    @property
    def client_id(self) -> str:
        return self.row.client_id

    @property
    def public(self) -> bool:
        return self.row.public

    @property
    def client_metadata(self) -> dict[str, Any]:
        return {"post_logout_redirect_uris": list(self.row.post_logout_redirect_uris or [])}

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # OpenID Connect requires redirect_uri in every request: no default

    def allowed_scopes(self) -> list[str]:
        return self.row.scopes.split()

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The scope to grant, or None (invalid_scope) when any requested scope is not allowed: a
        request is refused rather than silently narrowed, so the person consents to what is issued."""
        allowed = self.allowed_scopes()
        requested = scope_to_list(scope) or []
        if not requested:
            # client_credentials without a scope: everything the client may use without a person.
            return list_to_scope([s for s in allowed if s not in USER_SCOPES])  # type: ignore[no-any-return]
        if any(s not in allowed for s in requested):
            current().reason = "scope_not_allowed"
            return None
        return list_to_scope(list(dict.fromkeys(requested)))  # type: ignore[no-any-return]

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in (self.row.redirect_uris or [])  # exact string match, no prefixes

    def check_client_secret(self, client_secret: str) -> bool:
        if self.row.public or not self.row.secret_hash:
            return False
        return secret_matches(self.row.secret_hash, client_secret)

    def check_endpoint_auth_method(self, method: str, _endpoint: str) -> bool:
        if self.row.public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.row.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.row.grant_types


@dataclass
class Subject:
    """The person a code or token is about, as one client sees them (pairwise subject)."""

    account: Account
    sub: str

    @classmethod
    def of(cls, ctx: IdentityContext, account: Account, client: OAuthClient) -> Subject:
        return cls(account, pairwise_sub(ctx.secret, client.sector, account.id))


class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(self.row.auth_time.timestamp())

    def get_acr(self) -> str:
        return self.row.acr

    def get_amr(self) -> list[str]:
        return list(self.row.amr or [])


class Token(TokenMixin):  # type: ignore[misc]
    def __init__(self, row: OAuthToken, client: OAuthClient, account: Account | None, now: datetime) -> None:
        self.row = row
        self.client = client
        self.account = account
        self.now = now

    @property
    def scope(self) -> str:
        return self.row.scope

    def check_client(self, client: Client) -> bool:
        return bool(self.row.client_id == client.client_id)

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.row.expires_at - self.row.issued_at).total_seconds()))

    def is_expired(self) -> bool:
        return self.row.expires_at <= self.now

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None

    def get_user(self) -> Subject | None:
        if self.account is None:
            return None
        return Subject.of(current().ctx, self.account, self.client)

    def get_client(self) -> Client:
        return Client(self.client)


def load_token(session: Session, row: OAuthToken | None, now: datetime) -> Token | None:
    if row is None:
        return None
    client = session.get(OAuthClient, row.client_id)
    if client is None:
        return None
    account = session.get(Account, row.account_id) if row.account_id else None
    return Token(row, client, account, now)
