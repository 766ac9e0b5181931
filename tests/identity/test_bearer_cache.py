"""The bearer-token lookup cache: a hit skips the database, but never keeps a dead token alive. Expiry
is checked on every use; local revocation, client disabling and account suspension take effect at
once; changes the process cannot see take effect within CACHE_SECONDS."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from idkit import T0
from sqlalchemy import update

from dgov.identity import bearer
from dgov.identity.authz import SYSTEM
from dgov.identity.clients import add_client, disable_client
from dgov.identity.context import IdentityContext
from dgov.identity.models import Account, OAuthToken
from dgov.kernel.clock import FrozenClock


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    bearer.invalidate_cache()
    yield
    bearer.invalidate_cache()


async def issue(ctx: IdentityContext, client_id: str, account_id: uuid.UUID | None = None) -> str:
    """A token row as the provider writes it (only the digest is stored)."""
    token = secrets.token_urlsafe(32)
    async with ctx.db.uow() as uow:
        uow.session.add(
            OAuthToken(
                id=uuid.uuid4(),
                access_hash=bearer.token_digest(token),
                client_id=client_id,
                account_id=account_id,
                scope="registry.population.read",
                acr=None,
                issued_at=T0,
                expires_at=T0 + timedelta(minutes=10),
            )
        )
        await uow.commit()
    return token


async def new_client(ctx: IdentityContext, client_id: str) -> None:
    await add_client(
        ctx,
        SYSTEM,
        client_id=client_id,
        name="Bộ Tư pháp",
        scopes=("registry.population.read",),
        grant_types=("client_credentials",),
    )


async def set_behind_the_sessions_back(ctx: IdentityContext, sql: str) -> None:
    """A change no session of this process sees (as another worker or node would make it)."""
    async with ctx.db.uow() as uow:
        conn = await uow.session.connection()
        await conn.exec_driver_sql(sql)
        await uow.commit()


async def test_a_cached_token_is_served_without_the_database_until_the_ttl(
    id_ctx: IdentityContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    await new_client(id_ctx, "btp")
    token = await issue(id_ctx, "btp")
    first = await bearer.bearer_access(id_ctx.db, token)
    assert first is not None and first.principal.client_id == "btp"
    await set_behind_the_sessions_back(
        id_ctx, "UPDATE identity_oauth_tokens SET scope = 'changed' WHERE client_id = 'btp'"
    )
    assert await bearer.bearer_access(id_ctx.db, token) == first  # the cache answered
    monkeypatch.setattr(bearer, "CACHE_SECONDS", 0.0)  # the TTL has passed
    again = await bearer.bearer_access(id_ctx.db, token)
    assert again is not None and again.principal.scopes == frozenset({"changed"})


async def test_expiry_is_checked_on_every_use(id_ctx: IdentityContext, id_clock: FrozenClock) -> None:
    await new_client(id_ctx, "btp")
    token = await issue(id_ctx, "btp")
    assert await bearer.bearer_access(id_ctx.db, token) is not None
    id_clock.advance(timedelta(minutes=10))
    assert await bearer.bearer_access(id_ctx.db, token) is None


async def test_local_revocation_and_disabling_take_effect_at_once(id_ctx: IdentityContext) -> None:
    await new_client(id_ctx, "btp")
    await new_client(id_ctx, "bhxh")
    revoked, other, disabled = (
        await issue(id_ctx, "btp"),
        await issue(id_ctx, "btp"),
        await issue(id_ctx, "bhxh"),
    )
    for token in (revoked, other, disabled):
        assert await bearer.bearer_access(id_ctx.db, token) is not None
    async with id_ctx.db.uow() as uow:  # a revocation as the provider's ORM code makes it
        await uow.session.execute(
            update(OAuthToken)
            .where(OAuthToken.access_hash == bearer.token_digest(revoked))
            .values(revoked_at=T0)
        )
        await uow.commit()
    assert await bearer.bearer_access(id_ctx.db, revoked) is None
    assert await bearer.bearer_access(id_ctx.db, other) is not None
    await disable_client(id_ctx, SYSTEM, "bhxh")
    assert await bearer.bearer_access(id_ctx.db, disabled) is None


async def test_suspending_the_person_ends_their_applications_tokens(
    id_ctx: IdentityContext, make_citizen: Any
) -> None:
    await new_client(id_ctx, "app")
    an = await make_citizen()
    token = await issue(id_ctx, "app", account_id=an.id)
    found = await bearer.bearer_access(id_ctx.db, token)
    assert found is not None and found.id_number == an.id_number
    async with id_ctx.db.uow() as uow:
        account = await uow.session.get(Account, an.id)
        assert account is not None
        account.status = "suspended"
        await uow.commit()
    assert await bearer.bearer_access(id_ctx.db, token) is None


async def test_refusals_are_not_cached_and_the_cache_is_bounded(
    id_ctx: IdentityContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    await new_client(id_ctx, "btp")
    assert await bearer.bearer_access(id_ctx.db, "not-issued-yet") is None
    monkeypatch.setattr(bearer, "CACHE_SIZE", 2)
    tokens = [await issue(id_ctx, "btp") for _ in range(3)]
    for token in tokens:
        assert await bearer.bearer_access(id_ctx.db, token) is not None
    assert len(bearer._cache.entries) == 2
