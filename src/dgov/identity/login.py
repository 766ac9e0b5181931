"""Logging in: password (assurance level 1), then the second factor (level 2) when enrolled.

Throttling is two-sided: failures on one account slow that account down (growing waits, then a
15-minute lock), and failures from one address across accounts turn that address's wrong answers into
"too many attempts" (a correct password and second factor still log in, up to a generous hard bound:
see `_check_address`).
Every failure is audited and nothing is granted on a failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from dgov.identity import passwords, sessions, totp
from dgov.identity.context import IdentityContext
from dgov.identity.models import Account, LoginSession, Throttle
from dgov.identity.service import TOTP_PURPOSE
from dgov.kernel import clock
from dgov.kernel.audit import AuditEntry
from dgov.kernel.errors import DomainError, TooManyRequests
from dgov.kernel.uow import UnitOfWork


class LoginFailed(DomainError):
    status = 401
    code = "login-failed"
    title = "Login failed"


@dataclass(frozen=True)
class LoginStep:
    token: str
    second_factor_required: bool
    account_id: object


def _account_wait(failures: int, ctx: IdentityContext) -> timedelta | None:
    p = ctx.policy
    if failures <= p.free_failures:
        return None
    if failures >= p.lock_after:
        return p.lock_for
    return timedelta(seconds=15 * 2 ** (failures - p.free_failures - 1))  # 15 s, 30 s, 60 s, 120 s


def _too_many(until: datetime) -> TooManyRequests:
    seconds = max(1, int((until - clock.now()).total_seconds()))
    minutes = max(1, -(-seconds // 60))
    return TooManyRequests(
        "Too many failed attempts. Try again in {minutes} minute(s).",
        params={"minutes": minutes},
        extra={"retry_after": seconds},
    )


async def _address_over(uow: UnitOfWork, ctx: IdentityContext, ip: str | None, limit: int) -> datetime | None:
    """When the address's failures in the current window reach `limit`: the window's end, else None."""
    if not ip:
        return None
    row = await uow.session.get(Throttle, f"ip:{ip}")
    if row is None:
        return None
    until = row.window_start + ctx.policy.ip_window
    return until if row.count >= limit and until > clock.now() else None


async def _check_address(uow: UnitOfWork, ctx: IdentityContext, ip: str | None) -> None:
    """Refuses, before any password is looked at, only an address past the generous hard bound.

    The per-address counter is keyed on the address alone, and many people share one (a carrier's NAT,
    an office, a one-stop shop's kiosk): if it refused everyone at the ordinary limit, a few strangers'
    failures would lock out every correct login behind that address. So the ordinary limit
    (`ip_max_failures`) only turns the address's *wrong* passwords into "too many attempts" (see
    `password_step`), while guessing any one account stays bounded by that account's own counter."""
    until = await _address_over(uow, ctx, ip, ctx.policy.ip_block_failures)
    if until is not None:
        raise _too_many(until)


async def _count_address_failure(uow: UnitOfWork, ctx: IdentityContext, ip: str | None) -> None:
    if not ip:
        return
    now = clock.now()
    row = await uow.session.get(Throttle, f"ip:{ip}")
    if row is None:
        uow.session.add(Throttle(key=f"ip:{ip}", window_start=now, count=1))
    elif row.window_start + ctx.policy.ip_window <= now:
        row.window_start, row.count = now, 1
    else:
        row.count += 1


async def _fail(
    uow: UnitOfWork,
    ctx: IdentityContext,
    account: Account | None,
    *,
    ip: str | None,
    reason: str,
    identifier: str,
) -> None:
    """Record the failure (account counter, address counter, audit) and commit it before refusing."""
    if account is not None:
        account.failed_logins += 1
        wait = _account_wait(account.failed_logins, ctx)
        if wait is not None:
            account.locked_until = clock.now() + wait
    await _count_address_failure(uow, ctx, ip)
    uow.audit(
        AuditEntry(
            actor="anonymous",
            action="identity.login_failed",
            object_type="account",
            object_id=str(account.id) if account else "unknown",
            details={
                "reason": reason,
                "ip": ip or "",
                "identifier_kind": "id_number" if identifier.isdigit() else "username",
            },
        )
    )
    await uow.commit()


async def _refuse_locked(
    uow: UnitOfWork, ctx: IdentityContext, account: Account, *, ip: str | None, identifier: str
) -> None:
    await _count_address_failure(uow, ctx, ip)
    uow.audit(
        AuditEntry(
            actor="anonymous",
            action="identity.login_failed",
            object_type="account",
            object_id=str(account.id),
            details={
                "reason": "locked",
                "ip": ip or "",
                "identifier_kind": "id_number" if identifier.isdigit() else "username",
            },
        )
    )
    await uow.commit()


async def password_step(
    ctx: IdentityContext,
    *,
    identifier: str,
    password: str,
    ip: str | None,
    user_agent: str | None,
    previous_token: str | None = None,
) -> LoginStep:
    identifier = identifier.strip()
    async with ctx.db.uow() as uow:
        await _check_address(uow, ctx, ip)
        account = await uow.session.scalar(
            select(Account).where(
                or_(Account.id_number == identifier, Account.username == identifier.lower())
            )
        )
        if account is not None and account.locked_until is not None and account.locked_until > clock.now():
            # Refused without checking the password: guessing during a lock learns nothing. Still audited
            # (the owner should see the attack) and counted against the address, which bounds the records
            # one address can add.
            until = account.locked_until
            await _refuse_locked(uow, ctx, account, ip=ip, identifier=identifier)
            raise _too_many(until)
        ok = passwords.verify_password(account.password_hash if account else None, password)
        if account is None or not ok or account.status != "active":
            reason = "unknown_account" if account is None else ("bad_password" if not ok else account.status)
            busy = await _address_over(uow, ctx, ip, ctx.policy.ip_max_failures)
            await _fail(uow, ctx, account, ip=ip, reason=reason, identifier=identifier)
            if busy is not None:
                raise _too_many(busy)
            # A pending account answers like a wrong password: "not activated yet" would tell whoever
            # registered with guessed card details that they guessed right (pending accounts exist only
            # for details matching the population registry).
            raise LoginFailed("The ID number or password is not correct")
        if account.password_hash and passwords.needs_rehash(account.password_hash):
            account.password_hash = passwords.hash_password(password)
        if previous_token:
            prev = await uow.session.get(LoginSession, sessions.token_id(previous_token))
            if prev is not None and prev.revoked_at is None:
                prev.revoked_at = clock.now()
        needs_2fa = account.totp_secret is not None
        if not needs_2fa:
            account.failed_logins = 0
            account.locked_until = None
        token = await sessions.create_in(
            uow, ctx, account, level=0 if needs_2fa else 1, amr=["pwd"], ip=ip, user_agent=user_agent
        )
        uow.audit(
            AuditEntry(
                actor=f"{account.kind}:{account.id}",
                action="identity.password_ok" if needs_2fa else "identity.login",
                object_type="account",
                object_id=str(account.id),
                details={"level": 0 if needs_2fa else 1},
            )
        )
        await uow.commit()
    return LoginStep(token=token, second_factor_required=needs_2fa, account_id=account.id)


async def second_factor_step(
    ctx: IdentityContext, *, pending_token: str, code: str, ip: str | None, user_agent: str | None
) -> str:
    """Exchange a pending session and a TOTP code for a level-2 session (a new token)."""
    pending = await sessions.resolve(ctx, pending_token, pending=True)
    if pending is None:
        raise LoginFailed("Your login has expired; please start again")
    async with ctx.db.uow() as uow:
        await _check_address(uow, ctx, ip)
        # Locked, so that two requests with the same code cannot both pass the replay check.
        account = await uow.session.get(Account, pending.account.id, with_for_update=True)
        old = await uow.session.get(LoginSession, pending.session.id, with_for_update=True)
        if account is None or account.totp_secret is None or old is None or old.revoked_at is not None:
            raise LoginFailed("Your login has expired; please start again")
        if account.locked_until is not None and account.locked_until > clock.now():
            until = account.locked_until
            await _refuse_locked(uow, ctx, account, ip=ip, identifier=account.id_number or "x")
            raise _too_many(until)
        secret = ctx.box(TOTP_PURPOSE).open(account.totp_secret)
        step = totp.matching_step(secret, code, at=clock.now(), after_step=account.totp_last_step)
        if step is None:
            busy = await _address_over(uow, ctx, ip, ctx.policy.ip_max_failures)
            await _fail(uow, ctx, account, ip=ip, reason="bad_totp", identifier=account.id_number or "x")
            if busy is not None:
                raise _too_many(busy)
            raise LoginFailed("The code is not correct or has expired")
        account.totp_last_step = step
        account.failed_logins = 0
        account.locked_until = None
        old.revoked_at = clock.now()
        token = await sessions.create_in(
            uow,
            ctx,
            account,
            level=2,
            amr=["pwd", "otp"],
            ip=ip,
            user_agent=user_agent,
        )
        uow.audit(
            AuditEntry(
                actor=f"{account.kind}:{account.id}",
                action="identity.login",
                object_type="account",
                object_id=str(account.id),
                details={"level": 2},
            )
        )
        await uow.commit()
    return token


async def record_malformed(ctx: IdentityContext, *, ip: str | None, what: str) -> None:
    """A form refused before any account is looked up (a malformed ID number or code) still counts
    against the address and leaves an audit record: probing with junk is probing."""
    async with ctx.db.uow() as uow:
        await _count_address_failure(uow, ctx, ip)
        uow.audit(
            AuditEntry(
                actor="anonymous",
                action="identity.login_failed",
                object_type="account",
                object_id="unknown",
                details={"reason": f"malformed_{what}", "ip": ip or ""},
            )
        )
        await uow.commit()
