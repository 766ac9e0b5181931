"""Bearer access tokens presented to dgov's own APIs: the resource-server side of the OIDC provider.

The provider stores only the SHA-256 of each access token (identity_oauth_tokens.access_hash), so a
token is looked up by its digest. A token is good while it has not expired, has not been revoked, its
client is not disabled and, when it was issued for a person, that person's account is still active.

The principal is always an OAuth client (kind "client"): what it may do is decided by its scopes in each
action's rule. A token issued for a person carries that person's account id and ID number, but never
the person's own powers: an application acting for someone is not that someone.

Lookups are cached in the process for `CACHE_SECONDS` (15 s; at most `CACHE_SIZE` tokens): the lookup was
the largest single cost of an API request. What the cache may not do is keep a dead token alive:
- expiry is checked against the clock on every use, cached or not;
- any change to tokens, clients or accounts made through a session of this process (revocation,
  disabling a client, suspending an account, logging out everywhere…) empties the cache when it is
  flushed and again when it commits, and a lookup that overlapped such a change is not cached;
- a change made by another process (another `dgov serve` worker, another node on the same database, a
  manual UPDATE) takes effect within `CACHE_SECONDS` at most.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, event, select
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from dgov.identity.authz import Principal
from dgov.identity.models import Account, OAuthClient, OAuthToken
from dgov.identity.oidc.claims import LEVEL2
from dgov.kernel import clock
from dgov.kernel.uow import Database

CACHE_SECONDS = 15.0
CACHE_SIZE = 10_000

_TOKENS = cast(Table, OAuthToken.__table__)
_CLIENTS = cast(Table, OAuthClient.__table__)
_ACCOUNTS = cast(Table, Account.__table__)
_WATCHED = (OAuthToken, OAuthClient, Account)
_WATCHED_TABLES = frozenset({_TOKENS.name, _CLIENTS.name, _ACCOUNTS.name})


@dataclass(frozen=True)
class BearerAccess:
    principal: Principal
    client_name: str
    # The person the token was issued for (authorization code flow); None for client credentials.
    account_id: uuid.UUID | None = None
    id_number: str | None = None


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class _Cached:
    access: BearerAccess
    token_expires_at: datetime
    fetched: float  # time.monotonic(), not the clock: the TTL is real time even under a frozen clock


class _TokenCache:
    def __init__(self) -> None:
        self.entries: dict[tuple[int, str], _Cached] = {}
        # Bumped by every invalidation: a lookup that saw a bump while it ran does not store its answer.
        self.generation = 0

    def invalidate(self) -> None:
        self.generation += 1
        self.entries.clear()

    def get(self, key: tuple[int, str]) -> _Cached | None:
        hit = self.entries.get(key)
        if hit is not None and time.monotonic() - hit.fetched > CACHE_SECONDS:
            del self.entries[key]
            return None
        return hit

    def put(self, key: tuple[int, str], entry: _Cached, generation: int) -> None:
        if generation != self.generation:
            return
        if len(self.entries) >= CACHE_SIZE:
            # The oldest insertion goes first (dicts keep insertion order).
            del self.entries[next(iter(self.entries))]
        self.entries[key] = entry


_cache = _TokenCache()


def invalidate_cache() -> None:
    """Forget every cached lookup (called on any local change to tokens, clients or accounts)."""
    _cache.invalidate()


def _touches_watched(session: Session) -> bool:
    return any(isinstance(obj, _WATCHED) for obj in (*session.new, *session.dirty, *session.deleted))


@event.listens_for(Session, "before_flush")
def _on_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    if _touches_watched(session):
        session.info["bearer_cache_stale"] = True
        _cache.invalidate()


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _WATCHED_TABLES:
        state.session.info["bearer_cache_stale"] = True
        _cache.invalidate()


@event.listens_for(Session, "after_commit")
def _on_commit(session: Session) -> None:
    # Again after the commit: a lookup between the flush and the commit read the old rows.
    if session.info.pop("bearer_cache_stale", False):
        _cache.invalidate()


@event.listens_for(Session, "after_transaction_end")
def _on_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None and session.info.pop("bearer_cache_stale", False):
        _cache.invalidate()


_QUERY = (
    select(
        _TOKENS.c.client_id,
        _TOKENS.c.account_id,
        _TOKENS.c.scope,
        _TOKENS.c.acr,
        _TOKENS.c.expires_at,
        _TOKENS.c.revoked_at,
        _CLIENTS.c.name,
        _CLIENTS.c.disabled_at,
        _ACCOUNTS.c.status,
        _ACCOUNTS.c.id_number,
    )
    .join(_CLIENTS, _CLIENTS.c.client_id == _TOKENS.c.client_id)
    .outerjoin(_ACCOUNTS, _ACCOUNTS.c.id == _TOKENS.c.account_id)
)


async def bearer_access(db: Database, token: str) -> BearerAccess | None:
    """Who presents this access token, or None when it is unknown, expired, revoked or disabled."""
    if not token or len(token) > 512:
        return None
    digest = token_digest(token)
    key = (id(db), digest)
    hit = _cache.get(key)
    if hit is not None:
        return hit.access if hit.token_expires_at > clock.now() else None
    generation = _cache.generation
    async with db.uow(readonly=True) as uow:
        row = (await uow.session.execute(_QUERY.where(_TOKENS.c.access_hash == digest))).first()
    if row is None or row.revoked_at is not None or row.disabled_at is not None:
        return None  # refusals are not cached: a token issued a moment later must work at once
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
    access = BearerAccess(
        principal=principal, client_name=row.name, account_id=row.account_id, id_number=row.id_number
    )
    _cache.put(key, _Cached(access, row.expires_at, time.monotonic()), generation)
    return access
