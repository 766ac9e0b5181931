"""One-time codes sent to a person's phone or email: self-registration and its activation, and
password reset, with the limits that keep the codes from being guessed or used to flood someone."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import date, timedelta

from sqlalchemy import ColumnElement, func, select, update

from dgov.identity import passwords
from dgov.identity.account_rules import (
    CHILD_AGE_LIMIT,
    NewCitizen,
    age_on,
    audit_account,
    check_password,
    personal_inputs,
    wrong_code,
)
from dgov.identity.context import IdentityContext
from dgov.identity.models import Account, OneTimeCode
from dgov.identity.sessions import revoke_all_in
from dgov.kernel import clock
from dgov.kernel.errors import Conflict, FieldError, ValidationFailed
from dgov.kernel.ids import new_id
from dgov.kernel.uow import UnitOfWork

MAX_CODE_ATTEMPTS = 5
MAX_RESET_CODES_PER_HOUR = 5


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _unused(account_id: uuid.UUID, purpose: str) -> tuple[ColumnElement[bool], ...]:
    """The account's codes for `purpose` not yet used (nor replaced by a newer one)."""
    return (
        OneTimeCode.account_id == account_id,
        OneTimeCode.purpose == purpose,
        OneTimeCode.used_at.is_(None),
    )


async def _by_id_number(uow: UnitOfWork, id_number: str) -> Account | None:
    return await uow.session.scalar(select(Account).where(Account.id_number == id_number.strip()))


async def issue_code(uow: UnitOfWork, ctx: IdentityContext, account: Account, purpose: str) -> str:
    code = f"{secrets.randbelow(10**6):06d}"
    await uow.session.execute(
        update(OneTimeCode)
        .where(*_unused(account.id, purpose))
        .values(used_at=clock.now())  # a new code replaces any earlier one
    )
    uow.session.add(
        OneTimeCode(
            id=new_id(),
            account_id=account.id,
            purpose=purpose,
            code_hash=code_hash(code),
            expires_at=clock.now() + ctx.policy.code_ttl,
            attempts=0,
        )
    )
    channel, to = ("email", account.email) if account.email else ("sms", account.phone)
    uow.publish(
        "notify.send",
        {
            "channel": channel,
            "to": to or "",
            "account_id": str(account.id),
            "template": f"identity.{purpose}",
            "params": {"code": code, "name": account.full_name},
        },
    )
    return code


async def _live_code(uow: UnitOfWork, account: Account, purpose: str) -> OneTimeCode | None:
    """The account's current code for `purpose`, if it can still be used."""
    row = await uow.session.scalar(
        select(OneTimeCode)
        .where(*_unused(account.id, purpose))
        .order_by(OneTimeCode.expires_at.desc())
        .limit(1)
    )
    if row is None or row.expires_at <= clock.now() or row.attempts >= MAX_CODE_ATTEMPTS:
        return None
    return row


async def _check_code(uow: UnitOfWork, account: Account, purpose: str, code: str) -> OneTimeCode | None:
    """The live code row if `code` matches it (not yet marked used); a wrong guess is counted."""
    row = await _live_code(uow, account, purpose)
    if row is None:
        return None
    if not secrets.compare_digest(row.code_hash, code_hash(code.strip())):
        row.attempts += 1
        return None
    return row


async def _consume_code(uow: UnitOfWork, account: Account, purpose: str, code: str) -> bool:
    row = await _check_code(uow, account, purpose, code)
    if row is None:
        return False
    row.used_at = clock.now()
    return True


async def _record_attempt(uow: UnitOfWork, account: Account | None, action: str) -> None:
    """Audits a code's use or refusal and commits either way, so that a wrong guess stays counted."""
    audit_account(uow, "anonymous", action, account.id if account else "unknown")
    await uow.commit()


async def register_citizen(
    ctx: IdentityContext,
    *,
    id_number: str,
    full_name: str,
    birth_date: date,
    sex: str,
    password: str,
    email: str | None,
    phone: str | None,
) -> Account:
    """Self-registration: a pending account, activated by the code sent to the person's phone or email.

    A pending account whose activation code can no longer be used (expired or out of attempts) is
    registered afresh: otherwise a lost code, or someone registering another person's number without
    activating it, would block that number for good."""
    citizen = NewCitizen.of(
        id_number=id_number, full_name=full_name, birth_date=birth_date, sex=sex, email=email, phone=phone
    )
    errors = citizen.errors()
    if not (citizen.email or citizen.phone):
        errors.append(
            FieldError(("phone",), "Enter a phone number or an email address for the activation code")
        )
    if age_on(birth_date, clock.local_today()) < CHILD_AGE_LIMIT:
        errors.append(FieldError(("birth_date",), "Children under 14 are registered by a parent"))
    if errors:
        raise ValidationFailed(errors=errors)
    citizen.check_password(password)
    await citizen.verify(ctx)
    async with ctx.db.uow() as uow:
        account = await _by_id_number(uow, citizen.id_number)
        again = account is not None
        if account is not None:
            if account.status != "pending" or await _live_code(uow, account, "activate") is not None:
                raise Conflict("An account already exists for this personal identification number")
            account.full_name = full_name.strip()
            account.birth_date, account.sex = birth_date, sex
            account.email, account.phone = citizen.email, citizen.phone
            account.password_hash = passwords.hash_password(password)
            account.failed_logins, account.locked_until = 0, None
        else:
            account = citizen.account(ctx, password=password, status="pending", created_at=clock.now())
            uow.session.add(account)
            await uow.flush()
        await issue_code(uow, ctx, account, "activate")
        audit_account(uow, "anonymous", "identity.citizen_registered", account.id, {"again": again})
        await uow.commit()
    return account


async def activate(ctx: IdentityContext, *, id_number: str, code: str) -> None:
    async with ctx.db.uow() as uow:
        account = await _by_id_number(uow, id_number)
        ok = (
            account is not None
            and account.status == "pending"
            and await _consume_code(uow, account, "activate", code)
        )
        if account is not None and ok:
            account.status = "active"
            account.activated_at = clock.now()
        await _record_attempt(uow, account, "identity.activated" if ok else "identity.activation_failed")
    if not ok:
        raise wrong_code()


async def request_password_reset(ctx: IdentityContext, *, id_number: str) -> None:
    """Always answers the same way, so the form does not reveal which ID numbers have accounts.

    At most MAX_RESET_CODES_PER_HOUR codes go out per account: anyone may type someone's ID number, and
    the form must not become a way to flood that person's phone. Requests beyond that are ignored
    silently, like those for unknown numbers."""
    async with ctx.db.uow() as uow:
        account = await _by_id_number(uow, id_number)
        if account is None or account.status != "active" or not (account.email or account.phone):
            return
        # A code's issue time is its expiry minus the code lifetime.
        recent = await uow.session.scalar(
            select(func.count())
            .select_from(OneTimeCode)
            .where(
                OneTimeCode.account_id == account.id,
                OneTimeCode.purpose == "reset",
                OneTimeCode.expires_at > clock.now() + ctx.policy.code_ttl - timedelta(hours=1),
            )
        )
        if (recent or 0) < MAX_RESET_CODES_PER_HOUR:
            await issue_code(uow, ctx, account, "reset")
            audit_account(uow, "anonymous", "identity.reset_requested", account.id)
            await uow.commit()


async def reset_password(ctx: IdentityContext, *, id_number: str, code: str, new_password: str) -> None:
    """The code is checked first and the password only after it, so that an unknown ID number and a
    known one answer alike (the person's own data in the password is refused only once the code has
    shown who they are). A refused password leaves the code usable for the next try."""
    check_password(new_password)  # the same for every account: reveals nothing
    async with ctx.db.uow() as uow:
        account = await _by_id_number(uow, id_number)
        row = await _check_code(uow, account, "reset", code) if account is not None else None
        if account is not None and row is not None:
            check_password(
                new_password,
                user_inputs=personal_inputs(account.full_name, account.id_number or "", account.birth_date),
            )
            row.used_at = clock.now()
            account.password_hash = passwords.hash_password(new_password)
            account.failed_logins = 0
            account.locked_until = None
            await revoke_all_in(uow, account.id)  # a reset ends every session: the old password may be known
        ok = row is not None
        await _record_attempt(uow, account, "identity.password_reset" if ok else "identity.reset_failed")
    if not ok:
        raise wrong_code()
