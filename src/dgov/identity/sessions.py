"""Server-side sessions: random tokens in an HttpOnly cookie, only their hashes in the database,
a new token at every login step (no session fixation), idle and absolute expiry, revocable."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from dgov.identity.authz import Principal, RoleGrant, require
from dgov.identity.context import IdentityContext
from dgov.identity.models import Account, LoginSession, OfficialRole
from dgov.kernel import clock
from dgov.kernel.audit import AuditEntry
from dgov.kernel.errors import NotFound
from dgov.kernel.uow import UnitOfWork

COOKIE = "dgov_session"
TOUCH_EVERY = timedelta(minutes=1)  # refresh last_seen at most this often: reads should not all write


def token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_in(
    uow: UnitOfWork,
    ctx: IdentityContext,
    account: Account,
    *,
    level: int,
    amr: list[str],
    ip: str | None,
    user_agent: str | None,
    auth_time: datetime | None = None,
) -> str:
    token = secrets.token_urlsafe(32)
    now = clock.now()
    lifetime = ctx.policy.pending_login if level == 0 else ctx.policy.session_absolute
    uow.session.add(
        LoginSession(
            id=token_id(token),
            account_id=account.id,
            level=level,
            amr=amr,
            created_at=now,
            auth_time=auth_time or now,
            last_seen_at=now,
            expires_at=now + lifetime,
            user_agent=(user_agent or "")[:300],
            ip=ip,
        )
    )
    return token


@dataclass(frozen=True)
class Authenticated:
    session: LoginSession
    account: Account
    principal: Principal


def principal_of(account: Account, roles: list[OfficialRole], level: int) -> Principal:
    return Principal(
        kind=account.kind,
        account_id=account.id,
        level=level,
        roles=tuple(RoleGrant(r.agency_code, r.role, r.unit_code) for r in roles),
    )


async def resolve(ctx: IdentityContext, token: str | None, *, pending: bool = False) -> Authenticated | None:
    """The live session behind a cookie token (or None). `pending=True` accepts only a session that still
    owes its second factor; otherwise only completed logins count."""
    if not token:
        return None
    now = clock.now()
    async with ctx.db.uow(readonly=True) as uow:
        row = await uow.session.execute(
            select(LoginSession, Account)
            .join(Account, Account.id == LoginSession.account_id)
            .where(LoginSession.id == token_id(token))
        )
        found = row.first()
        if found is None:
            return None
        sess, account = found
        if sess.revoked_at is not None or sess.expires_at <= now or account.status != "active":
            return None
        if (sess.level == 0) != pending:
            return None
        if not pending and sess.last_seen_at + ctx.policy.session_idle <= now:
            return None
        roles = list(
            await uow.session.scalars(select(OfficialRole).where(OfficialRole.account_id == account.id))
        )
    if not pending and now - sess.last_seen_at >= TOUCH_EVERY:
        async with ctx.db.uow() as w:
            await w.session.execute(
                update(LoginSession).where(LoginSession.id == sess.id).values(last_seen_at=now)
            )
            await w.commit()
    return Authenticated(sess, account, principal_of(account, roles, sess.level))


async def revoke_token(ctx: IdentityContext, token: str | None) -> None:
    """Log out: end the session behind this cookie (nothing happens for an unknown token)."""
    if not token:
        return
    async with ctx.db.uow() as uow:
        sess = await uow.session.get(LoginSession, token_id(token))
        if sess is not None and sess.revoked_at is None:
            sess.revoked_at = clock.now()
            account = await uow.session.get(Account, sess.account_id)
            kind = account.kind if account is not None else "account"
            uow.audit(
                AuditEntry(
                    actor=f"{kind}:{sess.account_id}",  # as Principal.ref names the person everywhere else
                    action="identity.logout",
                    object_type="session",
                    object_id=sess.id[:16],
                )
            )
            await uow.commit()


async def revoke_all_in(uow: UnitOfWork, account_id: uuid.UUID) -> None:
    await uow.session.execute(
        update(LoginSession)
        .where(LoginSession.account_id == account_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )


async def log_out_everywhere(ctx: IdentityContext, actor: Principal) -> None:
    async with ctx.db.uow() as uow:
        account = await uow.session.get(Account, actor.account_id) if actor.account_id else None
        if account is None:
            raise NotFound("No such account")
        require(actor, "identity.account.manage_security", account)
        await revoke_all_in(uow, account.id)
        uow.audit(
            AuditEntry(
                actor=actor.ref,
                action="identity.logout_everywhere",
                object_type="account",
                object_id=str(account.id),
            )
        )
        await uow.commit()


async def revoke_session(ctx: IdentityContext, actor: Principal, *, session_prefix: str) -> None:
    """End one of one's own sessions, named on the account page by the first 16 hex digits of its id."""
    async with ctx.db.uow() as uow:
        rows = list(
            await uow.session.scalars(
                select(LoginSession).where(
                    LoginSession.account_id == actor.account_id, LoginSession.revoked_at.is_(None)
                )
            )
        )
        target = next(
            (s for s in rows if s.id.startswith(session_prefix) and len(session_prefix) >= 16), None
        )
        if target is None:
            raise NotFound("No such session")
        target.revoked_at = clock.now()
        uow.audit(
            AuditEntry(
                actor=actor.ref,
                action="identity.session_revoked",
                object_type="session",
                object_id=target.id[:16],
            )
        )
        await uow.commit()


async def active_sessions(ctx: IdentityContext, actor: Principal) -> list[LoginSession]:
    now = clock.now()
    async with ctx.db.uow(readonly=True) as uow:
        rows = await uow.session.scalars(
            select(LoginSession)
            .where(
                LoginSession.account_id == actor.account_id,
                LoginSession.revoked_at.is_(None),
                LoginSession.expires_at > now,
                LoginSession.level > 0,
            )
            .order_by(LoginSession.last_seen_at.desc())
        )
        return [s for s in rows if s.last_seen_at + ctx.policy.session_idle > now]
