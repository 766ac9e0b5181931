"""Server-side sessions on both databases: a new token at each login step, idle (30 min) and absolute
(12 h) expiry with a frozen clock, revoking one session or all of them, and pending logins kept apart
from completed ones."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from idkit import PASSWORD, TOTP_SEED, audit_rows, code_at, id_number_for
from sqlalchemy import update

from dgov.identity import login as login_uc
from dgov.identity import sessions
from dgov.identity.authz import Principal
from dgov.identity.context import IdentityContext
from dgov.identity.models import Account, LoginSession
from dgov.kernel.clock import FrozenClock
from dgov.kernel.errors import NotFound
from dgov.kernel.uow import Database

AN = id_number_for(date(1990, 3, 15), "M")


async def log_in(ictx: IdentityContext, identifier: str = AN, previous: str | None = None) -> str:
    step = await login_uc.password_step(
        ictx,
        identifier=identifier,
        password=PASSWORD,
        ip="192.0.2.1",
        user_agent="pytest",
        previous_token=previous,
    )
    return step.token


async def row(db: Database, token: str) -> LoginSession:
    async with db.uow(readonly=True) as uow:
        found = await uow.session.get(LoginSession, sessions.token_id(token))
        assert found is not None
        return found


def me(account: Account, level: int = 1) -> Principal:
    return Principal(kind=account.kind, account_id=account.id, level=level)


# --- tokens ----------------------------------------------------------------------------------------


async def test_each_login_step_issues_a_new_token_and_ends_the_one_before(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock
) -> None:
    await make_citizen(totp=TOTP_SEED)
    stale = await log_in(id_ctx)  # a pending login from earlier, e.g. planted by an attacker
    pending = await log_in(id_ctx, previous=stale)
    assert pending != stale
    assert await sessions.resolve(id_ctx, stale, pending=True) is None
    assert await sessions.resolve(id_ctx, pending, pending=True) is not None
    full = await login_uc.second_factor_step(
        id_ctx, pending_token=pending, code=code_at(TOTP_SEED, id_clock.now()), ip=None, user_agent=None
    )
    assert full not in (pending, stale)
    assert await sessions.resolve(id_ctx, pending, pending=True) is None
    login = await sessions.resolve(id_ctx, full)
    assert login is not None and login.principal.level == 2


async def test_logging_in_again_revokes_the_session_the_cookie_held(
    make_citizen: Any, id_ctx: IdentityContext
) -> None:
    await make_citizen()
    first = await log_in(id_ctx)
    again = await log_in(id_ctx, previous=first)
    assert await sessions.resolve(id_ctx, first) is None
    assert await sessions.resolve(id_ctx, again) is not None


async def test_pending_and_completed_logins_are_kept_apart(
    make_citizen: Any, id_ctx: IdentityContext
) -> None:
    await make_citizen(totp=TOTP_SEED)
    await make_citizen(birth=date(1985, 11, 2), place="079", serial="001234", full_name="Lê Văn Cường")
    pending = await log_in(id_ctx)
    full = await log_in(id_ctx, identifier=id_number_for(date(1985, 11, 2), "M", "079", "001234"))
    assert await sessions.resolve(id_ctx, pending) is None
    assert await sessions.resolve(id_ctx, pending, pending=True) is not None
    assert await sessions.resolve(id_ctx, full, pending=True) is None
    assert await sessions.resolve(id_ctx, full) is not None


@pytest.mark.parametrize("token", [None, "", "not-a-token", "x" * 500])
async def test_no_or_unknown_token_resolves_to_nothing(id_ctx: IdentityContext, token: str | None) -> None:
    assert await sessions.resolve(id_ctx, token) is None
    assert await sessions.resolve(id_ctx, token, pending=True) is None


# --- expiry ----------------------------------------------------------------------------------------


async def test_a_session_idle_for_30_minutes_ends(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock
) -> None:
    await make_citizen()
    token = await log_in(id_ctx)
    id_clock.advance(timedelta(minutes=29, seconds=59))
    assert await sessions.resolve(id_ctx, token) is not None  # and this use counts as activity
    id_clock.advance(timedelta(minutes=29, seconds=59))
    assert await sessions.resolve(id_ctx, token) is not None
    id_clock.advance(timedelta(minutes=30))
    assert await sessions.resolve(id_ctx, token) is None


async def test_idle_expiry_is_exact_at_30_minutes(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock
) -> None:
    await make_citizen()
    token = await log_in(id_ctx)
    id_clock.advance(timedelta(minutes=30))
    assert await sessions.resolve(id_ctx, token) is None


async def test_reads_within_a_minute_do_not_write(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock, db: Database
) -> None:
    await make_citizen()
    token = await log_in(id_ctx)
    started = (await row(db, token)).last_seen_at
    id_clock.advance(timedelta(seconds=59))
    await sessions.resolve(id_ctx, token)
    assert (await row(db, token)).last_seen_at == started
    id_clock.advance(timedelta(seconds=1))
    await sessions.resolve(id_ctx, token)
    assert (await row(db, token)).last_seen_at == id_clock.now()


async def test_an_active_session_still_ends_after_12_hours(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock, db: Database
) -> None:
    await make_citizen()
    token = await log_in(id_ctx)
    assert (await row(db, token)).expires_at == id_clock.now() + timedelta(hours=12)
    for _ in range(12 * 3 - 1):  # used every 20 minutes, never idle
        id_clock.advance(timedelta(minutes=20))
        assert await sessions.resolve(id_ctx, token) is not None
    id_clock.advance(timedelta(minutes=19, seconds=59))
    assert await sessions.resolve(id_ctx, token) is not None
    id_clock.advance(timedelta(seconds=1))
    assert await sessions.resolve(id_ctx, token) is None


async def test_a_disabled_account_loses_its_sessions_at_once(
    make_citizen: Any, id_ctx: IdentityContext, db: Database
) -> None:
    account = await make_citizen()
    token = await log_in(id_ctx)
    async with db.uow() as uow:
        await uow.session.execute(update(Account).where(Account.id == account.id).values(status="disabled"))
        await uow.commit()
    assert await sessions.resolve(id_ctx, token) is None


# --- revoking --------------------------------------------------------------------------------------


async def test_logging_out_ends_that_session_only(
    make_citizen: Any, id_ctx: IdentityContext, db: Database
) -> None:
    account = await make_citizen()
    phone, laptop = await log_in(id_ctx), await log_in(id_ctx)
    await sessions.revoke_token(id_ctx, phone)
    assert await sessions.resolve(id_ctx, phone) is None
    assert await sessions.resolve(id_ctx, laptop) is not None
    [record] = await audit_rows(db, "identity.logout")
    assert record.actor == f"citizen:{account.id}"
    await sessions.revoke_token(id_ctx, phone)  # twice: nothing more happens
    await sessions.revoke_token(id_ctx, "unknown")
    await sessions.revoke_token(id_ctx, None)
    assert len(await audit_rows(db, "identity.logout")) == 1


async def test_revoke_one_session_from_the_account_page(
    make_citizen: Any, id_ctx: IdentityContext, db: Database
) -> None:
    account = await make_citizen()
    phone, laptop = await log_in(id_ctx), await log_in(id_ctx)
    listed = await sessions.active_sessions(id_ctx, me(account))
    assert {s.id for s in listed} == {sessions.token_id(phone), sessions.token_id(laptop)}
    await sessions.revoke_session(id_ctx, me(account), session_prefix=sessions.token_id(phone)[:16])
    assert await sessions.resolve(id_ctx, phone) is None
    assert await sessions.resolve(id_ctx, laptop) is not None
    assert [s.id for s in await sessions.active_sessions(id_ctx, me(account))] == [sessions.token_id(laptop)]
    assert len(await audit_rows(db, "identity.session_revoked", object_id=sessions.token_id(phone)[:16])) == 1


async def test_one_cannot_revoke_someone_elses_session_or_guess_with_a_short_prefix(
    make_citizen: Any, id_ctx: IdentityContext
) -> None:
    account = await make_citizen()
    other = await make_citizen(
        birth=date(1985, 11, 2), place="079", serial="001234", full_name="Lê Văn Cường"
    )
    theirs = await log_in(id_ctx, identifier=other.id_number)
    mine = await log_in(id_ctx)
    with pytest.raises(NotFound):
        await sessions.revoke_session(id_ctx, me(account), session_prefix=sessions.token_id(theirs)[:16])
    with pytest.raises(NotFound):
        await sessions.revoke_session(id_ctx, me(account), session_prefix=sessions.token_id(mine)[:15])
    with pytest.raises(NotFound):
        await sessions.revoke_session(id_ctx, me(account), session_prefix="")
    assert await sessions.resolve(id_ctx, theirs) is not None
    assert await sessions.resolve(id_ctx, mine) is not None


async def test_log_out_everywhere(make_citizen: Any, id_ctx: IdentityContext, db: Database) -> None:
    account = await make_citizen()
    other = await make_citizen(
        birth=date(1985, 11, 2), place="079", serial="001234", full_name="Lê Văn Cường"
    )
    tokens = [await log_in(id_ctx) for _ in range(3)]
    theirs = await log_in(id_ctx, identifier=other.id_number)
    await sessions.log_out_everywhere(id_ctx, me(account))
    for token in tokens:
        assert await sessions.resolve(id_ctx, token) is None
    assert await sessions.resolve(id_ctx, theirs) is not None
    assert await sessions.active_sessions(id_ctx, me(account)) == []
    assert len(await audit_rows(db, "identity.logout_everywhere", object_id=str(account.id))) == 1


async def test_active_sessions_leave_out_pending_expired_and_idle_ones(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock
) -> None:
    account = await make_citizen(totp=TOTP_SEED)
    pending = await log_in(id_ctx)
    full = await login_uc.second_factor_step(
        id_ctx,
        pending_token=await log_in(id_ctx),
        code=code_at(TOTP_SEED, id_clock.now()),
        ip=None,
        user_agent=None,
    )
    assert [s.id for s in await sessions.active_sessions(id_ctx, me(account, 2))] == [sessions.token_id(full)]
    assert pending
    id_clock.advance(timedelta(minutes=30))
    assert await sessions.active_sessions(id_ctx, me(account, 2)) == []
