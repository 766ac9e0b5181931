"""Logging in on both databases: assurance levels 1 and 2 with real TOTP codes at a frozen time, replay
and drift of codes, throttling per account and per address, and that every failure is audited and grants
nothing."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from idkit import OFFICIAL_PASSWORD, PASSWORD, TOTP_SEED, audit_rows, code_at, count, id_number_for, reload
from sqlalchemy import select, update

from dgov.identity import login as login_uc
from dgov.identity import sessions
from dgov.identity.context import IdentityContext
from dgov.identity.models import Account, LoginSession
from dgov.kernel.clock import FrozenClock
from dgov.kernel.errors import TooManyRequests
from dgov.kernel.uow import Database

AN = id_number_for(date(1990, 3, 15), "M")
IP = "203.0.113.5"
WRONG = "not-the-password-2026"


async def password(
    ictx: IdentityContext, identifier: str, secret: str, ip: str | None = IP, **kw: Any
) -> Any:
    return await login_uc.password_step(
        ictx, identifier=identifier, password=secret, ip=ip, user_agent="pytest", **kw
    )


async def second(ictx: IdentityContext, token: str, code: str, ip: str | None = IP) -> str:
    return await login_uc.second_factor_step(ictx, pending_token=token, code=code, ip=ip, user_agent="pytest")


async def session_row(db: Database, token: str) -> LoginSession:
    async with db.uow(readonly=True) as uow:
        row = await uow.session.get(LoginSession, sessions.token_id(token))
        assert row is not None
        return row


async def granted(db: Database) -> int:
    """Sessions that grant anything (a completed login at level 1 or 2)."""
    return await count(db, LoginSession, LoginSession.level > 0)


# --- the two levels --------------------------------------------------------------------------------


async def test_a_password_alone_gives_level_1(
    make_citizen: Any, id_ctx: IdentityContext, db: Database
) -> None:
    account = await make_citizen()
    step = await password(id_ctx, AN, PASSWORD)
    assert not step.second_factor_required and step.account_id == account.id
    row = await session_row(db, step.token)
    assert (row.level, row.amr, row.ip, row.user_agent) == (1, ["pwd"], IP, "pytest")
    assert row.id != step.token  # only the hash is stored
    login = await sessions.resolve(id_ctx, step.token)
    assert login is not None
    assert (login.principal.kind, login.principal.account_id, login.principal.level) == (
        "citizen",
        account.id,
        1,
    )
    [record] = await audit_rows(db, "identity.login", object_id=str(account.id))
    assert record.details == {"level": 1}


async def test_the_second_factor_gives_level_2_with_a_new_token(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock, db: Database
) -> None:
    account = await make_citizen(totp=TOTP_SEED)
    step = await password(id_ctx, AN, PASSWORD)
    assert step.second_factor_required
    assert (await session_row(db, step.token)).level == 0
    assert await sessions.resolve(id_ctx, step.token) is None  # a pending login is no login
    assert await granted(db) == 0
    token = await second(id_ctx, step.token, code_at(TOTP_SEED, id_clock.now()))
    assert token != step.token
    row = await session_row(db, token)
    assert (row.level, row.amr) == (2, ["pwd", "otp"])
    assert (await session_row(db, step.token)).revoked_at is not None
    login = await sessions.resolve(id_ctx, token)
    assert login is not None and login.principal.level == 2
    assert (await reload(db, account.id)).totp_last_step == int(id_clock.now().timestamp()) // 30
    assert [r.details for r in await audit_rows(db, "identity.password_ok")] == [{"level": 0}]
    assert [r.details for r in await audit_rows(db, "identity.login")] == [{"level": 2}]


async def test_officials_log_in_with_their_username_in_any_case(
    make_official: Any, id_ctx: IdentityContext
) -> None:
    official = await make_official("hotich.badinh")
    step = await password(id_ctx, "  HoTich.BaDinh ", OFFICIAL_PASSWORD)
    login = await sessions.resolve(id_ctx, step.token)
    assert login is not None and login.principal.kind == "official"
    assert [(g.agency, g.role, g.unit) for g in login.principal.roles] == [
        ("BTP", "civil_status_officer", "00004")
    ]
    assert login.account.id == official.id


async def test_a_spent_pending_login_cannot_be_exchanged_again(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock
) -> None:
    await make_citizen(totp=TOTP_SEED)
    step = await password(id_ctx, AN, PASSWORD)
    await second(id_ctx, step.token, code_at(TOTP_SEED, id_clock.now()))
    id_clock.advance(timedelta(seconds=30))
    with pytest.raises(login_uc.LoginFailed) as info:
        await second(id_ctx, step.token, code_at(TOTP_SEED, id_clock.now()))
    assert info.value.detail == "Your login has expired; please start again"


async def test_a_pending_login_expires_after_5_minutes(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock
) -> None:
    await make_citizen(totp=TOTP_SEED)
    step = await password(id_ctx, AN, PASSWORD)
    id_clock.advance(timedelta(minutes=5))
    with pytest.raises(login_uc.LoginFailed) as info:
        await second(id_ctx, step.token, code_at(TOTP_SEED, id_clock.now()))
    assert info.value.detail == "Your login has expired; please start again"


# --- TOTP codes: replay and drift ------------------------------------------------------------------


async def test_a_code_is_accepted_once(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock, db: Database
) -> None:
    await make_citizen(totp=TOTP_SEED)
    code = code_at(TOTP_SEED, id_clock.now())
    await second(id_ctx, (await password(id_ctx, AN, PASSWORD)).token, code)
    id_clock.advance(timedelta(seconds=10))  # still the same 30-second step
    again = await password(id_ctx, AN, PASSWORD)
    with pytest.raises(login_uc.LoginFailed):
        await second(id_ctx, again.token, code)
    assert await count(db, LoginSession, LoginSession.level == 2) == 1
    [failure] = await audit_rows(db, "identity.login_failed")
    assert failure.details["reason"] == "bad_totp"


async def test_an_older_code_within_the_drift_is_refused_after_a_newer_one(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock
) -> None:
    await make_citizen(totp=TOTP_SEED)
    now = id_clock.now()
    await second(id_ctx, (await password(id_ctx, AN, PASSWORD)).token, code_at(TOTP_SEED, now))
    again = await password(id_ctx, AN, PASSWORD)
    with pytest.raises(login_uc.LoginFailed):
        await second(id_ctx, again.token, code_at(TOTP_SEED, now - timedelta(seconds=30)))
    await second(id_ctx, again.token, code_at(TOTP_SEED, now + timedelta(seconds=30)))


@pytest.mark.parametrize("offset", [-30, -1, 29, 30, 59])
async def test_one_step_of_clock_drift_is_accepted(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock, offset: int
) -> None:
    await make_citizen(totp=TOTP_SEED)
    step = await password(id_ctx, AN, PASSWORD)
    # The phone's clock is `offset` seconds off the server's: at most one 30-second step apart.
    assert await second(id_ctx, step.token, code_at(TOTP_SEED, id_clock.now() + timedelta(seconds=offset)))


@pytest.mark.parametrize("offset", [-90, -60, -31, 60, 90])
async def test_two_steps_of_drift_are_refused(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock, db: Database, offset: int
) -> None:
    await make_citizen(totp=TOTP_SEED)
    step = await password(id_ctx, AN, PASSWORD)
    code = code_at(TOTP_SEED, id_clock.now() + timedelta(seconds=offset))
    window = {code_at(TOTP_SEED, id_clock.now() + timedelta(seconds=s)) for s in (-30, 0, 30)}
    if code in window:  # a 1-in-10^5 coincidence of two steps' codes, not drift
        pytest.skip("the code of that step happens to equal one inside the window")
    with pytest.raises(login_uc.LoginFailed):
        await second(id_ctx, step.token, code)
    assert await granted(db) == 0


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 34 5"])
async def test_malformed_codes_are_refused(
    make_citizen: Any, id_ctx: IdentityContext, db: Database, code: str
) -> None:
    await make_citizen(totp=TOTP_SEED)
    step = await password(id_ctx, AN, PASSWORD)
    with pytest.raises(login_uc.LoginFailed):
        await second(id_ctx, step.token, code)
    assert await granted(db) == 0


async def test_a_code_with_a_space_in_the_middle_is_read_as_six_digits(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock
) -> None:
    await make_citizen(totp=TOTP_SEED)
    code = code_at(TOTP_SEED, id_clock.now())
    step = await password(id_ctx, AN, PASSWORD)
    assert await second(id_ctx, step.token, f" {code[:3]} {code[3:]} ")


# --- failures --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identifier", "secret", "reason"),
    [
        (AN, WRONG, "bad_password"),
        ("079085001234", PASSWORD, "unknown_account"),
        ("nobody.here", PASSWORD, "unknown_account"),
    ],
)
async def test_a_failure_is_audited_and_grants_nothing(
    make_citizen: Any, id_ctx: IdentityContext, db: Database, identifier: str, secret: str, reason: str
) -> None:
    account = await make_citizen()
    with pytest.raises(login_uc.LoginFailed) as info:
        await password(id_ctx, identifier, secret)
    assert info.value.detail == "The ID number or password is not correct"
    assert info.value.status == 401
    [record] = await audit_rows(db, "identity.login_failed")
    assert record.actor == "anonymous"
    assert record.object_id == (str(account.id) if reason == "bad_password" else "unknown")
    assert record.details["reason"] == reason
    assert record.details["ip"] == IP
    assert record.details["identifier_kind"] == ("username" if identifier == "nobody.here" else "id_number")
    assert secret not in str(record.details) and identifier not in str(record.details)
    assert await count(db, LoginSession) == 0


async def test_a_disabled_account_cannot_log_in_even_with_its_password(
    make_citizen: Any, id_ctx: IdentityContext, db: Database
) -> None:
    account = await make_citizen()
    async with db.uow() as uow:
        await uow.session.execute(update(Account).where(Account.id == account.id).values(status="disabled"))
        await uow.commit()
    with pytest.raises(login_uc.LoginFailed) as info:
        await password(id_ctx, AN, PASSWORD)
    assert info.value.detail == "The ID number or password is not correct"
    [record] = await audit_rows(db, "identity.login_failed")
    assert record.details["reason"] == "disabled"
    assert await count(db, LoginSession) == 0


# --- throttling per account ------------------------------------------------------------------------


async def fail(ictx: IdentityContext, identifier: str = AN, ip: str | None = IP) -> type[Exception]:
    """One wrong password; returns which refusal it met."""
    try:
        await password(ictx, identifier, WRONG, ip=ip)
    except (login_uc.LoginFailed, TooManyRequests) as exc:
        return type(exc)
    raise AssertionError("a wrong password was accepted")


async def test_waits_grow_after_five_failures_then_a_15_minute_lock(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock, db: Database
) -> None:
    account = await make_citizen()
    for _ in range(4):
        assert await fail(id_ctx) is login_uc.LoginFailed
    assert (await reload(db, account.id)).locked_until is None
    waits = []
    for _ in range(5):  # failures 5 to 9
        assert await fail(id_ctx) is login_uc.LoginFailed
        until = (await reload(db, account.id)).locked_until
        assert until is not None
        waits.append(until - id_clock.now())
        # During the wait even the right password is refused, without being checked.
        with pytest.raises(TooManyRequests) as info:
            await password(id_ctx, AN, PASSWORD)
        assert info.value.extra["retry_after"] == int(waits[-1].total_seconds())
        id_clock.advance(waits[-1] - timedelta(seconds=1))
        with pytest.raises(TooManyRequests):
            await password(id_ctx, AN, PASSWORD)
        id_clock.advance(timedelta(seconds=1))
    assert waits == [timedelta(seconds=s) for s in (15, 30, 60, 120)] + [timedelta(minutes=15)]
    assert await granted(db) == 0
    # The lock is over: the right password works and the count starts again.
    step = await password(id_ctx, AN, PASSWORD)
    assert await sessions.resolve(id_ctx, step.token) is not None
    stored = await reload(db, account.id)
    assert (stored.failed_logins, stored.locked_until) == (0, None)


async def test_during_the_lock_the_right_password_is_refused_and_audited(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock, db: Database
) -> None:
    account = await make_citizen()
    for _ in range(9):
        await fail(id_ctx)
        id_clock.advance(timedelta(minutes=3))  # past every short wait, so each one is a real failure
    stored = await reload(db, account.id)
    assert stored.failed_logins == 9
    assert stored.locked_until == id_clock.now() - timedelta(minutes=3) + timedelta(minutes=15)
    with pytest.raises(TooManyRequests) as info:
        await password(id_ctx, AN, PASSWORD)
    assert info.value.detail == "Too many failed attempts. Try again in {minutes} minute(s)."
    assert info.value.params == {"minutes": 12}
    assert await granted(db) == 0
    records = await audit_rows(db, "identity.login_failed", object_id=str(account.id))
    assert [r.details["reason"] for r in records] == ["bad_password"] * 9 + ["locked"]
    id_clock.advance(timedelta(minutes=12))
    assert (await password(id_ctx, AN, PASSWORD)).token


async def test_second_factor_failures_count_toward_the_same_lock(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock, db: Database
) -> None:
    account = await make_citizen(totp=TOTP_SEED)
    step = await password(id_ctx, AN, PASSWORD)
    for _ in range(5):
        with pytest.raises(login_uc.LoginFailed):
            await second(
                id_ctx, step.token, "000000" if code_at(TOTP_SEED, id_clock.now()) != "000000" else "111111"
            )
    assert (await reload(db, account.id)).locked_until == id_clock.now() + timedelta(seconds=15)
    with pytest.raises(TooManyRequests):
        await second(id_ctx, step.token, code_at(TOTP_SEED, id_clock.now()))
    assert await granted(db) == 0
    reasons = [r.details["reason"] for r in await audit_rows(db, "identity.login_failed")]
    assert reasons == ["bad_totp"] * 5 + ["locked"]
    id_clock.advance(timedelta(seconds=15))
    await second(id_ctx, step.token, code_at(TOTP_SEED, id_clock.now()))
    assert (await reload(db, account.id)).failed_logins == 0


# --- throttling per address ------------------------------------------------------------------------


async def test_an_address_past_its_limit_cannot_guess_but_a_right_password_still_logs_in(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock, db: Database
) -> None:
    """Others' failures behind a shared address (NAT, office proxy) never lock out a correct login: the
    ordinary per-address limit only refuses that address's wrong answers."""
    limit = id_ctx.policy.ip_max_failures
    victim = await make_citizen()
    others = [id_number_for(date(1980 + i % 20, 1, 1), "F", "079", f"{i:06d}") for i in range(limit)]
    for number in others:  # each account fails once: no account is ever locked
        assert await fail(id_ctx, number) is login_uc.LoginFailed
    assert await fail(id_ctx, others[0]) is TooManyRequests  # the address's next guess: too many
    assert await granted(db) == 0
    step = await password(id_ctx, AN, PASSWORD)  # the right password of an untouched account
    assert step.token and step.account_id == victim.id
    assert await granted(db) == 1
    assert (await reload(db, victim.id)).failed_logins == 0
    assert len(await audit_rows(db, "identity.login_failed")) == limit + 1
    [ok] = await audit_rows(db, "identity.login")
    assert ok.object_id == str(victim.id)


async def test_a_right_second_factor_passes_from_a_busy_address(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock, db: Database
) -> None:
    await make_citizen(totp=TOTP_SEED)
    for i in range(id_ctx.policy.ip_max_failures):
        await fail(id_ctx, id_number_for(date(1980, 1, 1), "F", "079", f"{i:06d}"))
    step = await password(id_ctx, AN, PASSWORD)
    assert step.second_factor_required
    token = await second(id_ctx, step.token, code_at(TOTP_SEED, id_clock.now()))
    assert (await session_row(db, token)).level == 2


async def test_past_the_hard_bound_the_address_is_refused_outright(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock, db: Database
) -> None:
    id_ctx.policy.ip_block_failures = id_ctx.policy.ip_max_failures + 5  # the bound, smaller for the test
    await make_citizen()
    for i in range(id_ctx.policy.ip_block_failures):
        await fail(id_ctx, id_number_for(date(1980, 1, 1), "F", "079", f"{i:06d}"))
    with pytest.raises(TooManyRequests):
        await password(id_ctx, AN, PASSWORD)
    assert await granted(db) == 0
    # Another address is not affected, and this one may try again once the window has passed.
    assert (await password(id_ctx, AN, PASSWORD, ip="198.51.100.20")).token
    id_clock.advance(id_ctx.policy.ip_window)
    assert (await password(id_ctx, AN, PASSWORD)).token


async def test_refusals_at_a_locked_account_count_against_the_address(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock, db: Database
) -> None:
    await make_citizen()
    other = await make_citizen(
        birth=date(1985, 11, 2), place="079", serial="001234", full_name="Lê Văn Cường"
    )
    for _ in range(id_ctx.policy.ip_max_failures):
        await fail(id_ctx)  # 5 real failures, then refusals during the waits
    assert await fail(id_ctx, other.id_number) is TooManyRequests
    # Each attempt left one audit record, and none of them a session.
    assert len(await audit_rows(db, "identity.login_failed")) == id_ctx.policy.ip_max_failures + 1
    assert await count(db, LoginSession) == 0


# --- session fixation ------------------------------------------------------------------------------


async def test_logging_in_revokes_the_session_the_browser_came_with(
    make_citizen: Any, id_ctx: IdentityContext, db: Database
) -> None:
    await make_citizen()
    first = await password(id_ctx, AN, PASSWORD)
    second_login = await password(id_ctx, AN, PASSWORD, previous_token=first.token)
    assert second_login.token != first.token
    assert await sessions.resolve(id_ctx, first.token) is None
    assert await sessions.resolve(id_ctx, second_login.token) is not None


async def test_a_failed_login_leaves_the_previous_session_alone(
    make_citizen: Any, id_ctx: IdentityContext
) -> None:
    await make_citizen()
    first = await password(id_ctx, AN, PASSWORD)
    with pytest.raises(login_uc.LoginFailed):
        await password(id_ctx, AN, WRONG, previous_token=first.token)
    assert await sessions.resolve(id_ctx, first.token) is not None


async def test_an_old_password_hash_is_upgraded_at_login(
    make_citizen: Any, id_ctx: IdentityContext, db: Database
) -> None:

    account = await make_citizen()
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    async with db.uow() as uow:
        await uow.session.execute(update(Account).where(Account.id == account.id).values(password_hash=weak))
        await uow.commit()
    await password(id_ctx, AN, PASSWORD)
    async with db.uow(readonly=True) as uow:
        stored = await uow.session.scalar(select(Account.password_hash).where(Account.id == account.id))
    assert stored != weak and stored and stored.startswith("$argon2id$")
