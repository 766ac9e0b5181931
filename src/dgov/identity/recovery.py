"""One-time codes sent to a person's phone or email on file (or printed in person): self-registration
and its activation, and password reset, with the limits that keep the codes from being guessed or used
to flood someone."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, func, select, update

from dgov.identity import passwords
from dgov.identity.account_rules import (
    CHILD_AGE_LIMIT,
    NewCitizen,
    age_on,
    audit_account,
    check_password,
    personal_inputs,
    wrong_activation,
    wrong_code,
)
from dgov.identity.authz import Principal, require
from dgov.identity.context import IdentityContext
from dgov.identity.models import Account, OneTimeCode, Throttle
from dgov.identity.sessions import revoke_all_in
from dgov.kernel import clock
from dgov.kernel.errors import Conflict, FieldError, TooManyRequests, ValidationFailed
from dgov.kernel.ids import new_id
from dgov.kernel.uow import UnitOfWork

MAX_CODE_ATTEMPTS = 5
MAX_RESET_CODES_PER_HOUR = 5
# Self-registration attempts, counted whatever the outcome (so that the limit reveals nothing either):
# per ID number from any address (a day's few tries bound guessing a birth date to months), and per
# address across ID numbers.
REGISTER_PER_ID = 5
REGISTER_WINDOW_PER_ID = timedelta(days=1)
REGISTER_PER_ADDRESS = 20
REGISTER_WINDOW_PER_ADDRESS = timedelta(hours=1)
# Codes printed by a one-stop official: longer (the person types them at home, days later) and longer-lived.
IN_PERSON_DIGITS = 8
IN_PERSON_TTL = timedelta(days=7)


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


async def _live_codes(uow: UnitOfWork, account: Account, purposes: tuple[str, ...]) -> list[OneTimeCode]:
    rows = await uow.session.scalars(
        select(OneTimeCode).where(
            OneTimeCode.account_id == account.id,
            OneTimeCode.purpose.in_(purposes),
            OneTimeCode.used_at.is_(None),
            OneTimeCode.expires_at > clock.now(),
            OneTimeCode.attempts < MAX_CODE_ATTEMPTS,
        )
    )
    return list(rows)


async def _record_attempt(uow: UnitOfWork, account: Account | None, action: str) -> None:
    """Audits a code's use or refusal and commits either way, so that a wrong guess stays counted."""
    audit_account(uow, "anonymous", action, account.id if account else "unknown")
    await uow.commit()


def _throttle_key(ctx: IdentityContext, kind: str, value: str) -> str:
    # The ID numbers people type are kept only as a keyed hash (a plain one of 12 digits is reversed by
    # trying them all): the throttle table is no list of who tried.
    digest = hmac.new(ctx.secret.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
    return f"{kind}:{digest[:40]}"


async def _take(uow: UnitOfWork, key: str, window: timedelta, limit: int) -> datetime | None:
    """Counts one attempt under `key` in a fixed window; when the window is full, its end (not counted)."""
    now = clock.now()
    row = await uow.session.get(Throttle, key, with_for_update=True)
    if row is None:
        uow.session.add(Throttle(key=key, window_start=now, count=1))
        return None
    if row.window_start + window <= now:
        row.window_start, row.count = now, 1
        return None
    if row.count >= limit:
        return row.window_start + window
    row.count += 1
    return None


def _too_many(until: datetime) -> TooManyRequests:
    seconds = max(1, int((until - clock.now()).total_seconds()))
    return TooManyRequests(
        "Too many attempts. Try again in {minutes} minute(s).",
        params={"minutes": max(1, -(-seconds // 60))},
        extra={"retry_after": seconds},
    )


async def register_citizen(
    ctx: IdentityContext,
    *,
    id_number: str,
    full_name: str,
    birth_date: date,
    sex: str,
    password: str,
    ip: str | None = None,
) -> None:
    """Self-registration: a pending account whose activation code goes only where the state can reach the
    person, the phone or e-mail the population registry holds for them, or, when it holds none, a code
    an official prints at a one-stop shop after checking the identity card (`issue_in_person_code`).

    Knowing someone's card details is therefore not enough to own their account, and the answer is the
    same whatever the registry says (no match, a match, an account that exists already): nothing here
    tells the caller which, and the password is hashed on every path so that the time taken does not
    either. Only what can be judged without the registry (the form's own checks) is refused with
    field errors. Attempts are limited per address and per ID number (whoever is asking), and each is
    audited. A pending registration, whoever made it, is replaced by the next matching one with a new
    code to the same contact: a stranger's attempt never blocks the rightful person."""
    citizen = NewCitizen.of(id_number=id_number, full_name=full_name, birth_date=birth_date, sex=sex)
    errors = citizen.errors()
    if age_on(birth_date, clock.local_today()) < CHILD_AGE_LIMIT:
        errors.append(FieldError(("birth_date",), "Children under 14 are registered by a parent"))
    if errors:
        raise ValidationFailed(errors=errors)
    citizen.check_password(password)
    password_hash = passwords.hash_password(password)
    async with ctx.db.uow() as uow:
        until = await _take(
            uow, _throttle_key(ctx, "register-id", citizen.id_number), REGISTER_WINDOW_PER_ID, REGISTER_PER_ID
        )
        if until is None and ip:
            until = await _take(uow, f"register-ip:{ip}", REGISTER_WINDOW_PER_ADDRESS, REGISTER_PER_ADDRESS)
        if until is not None:
            audit_account(
                uow, "anonymous", "identity.registration_requested", "unknown", {"outcome": "throttled"}
            )
            await uow.commit()
            raise _too_many(until)
        await uow.commit()
    on_file = await ctx.verifier.on_file(
        id_number=citizen.id_number, full_name=full_name, birth_date=birth_date, sex=sex
    )
    async with ctx.db.uow() as uow:
        account = await _by_id_number(uow, citizen.id_number)
        if on_file is None:
            outcome = "no_match"
        elif account is not None and account.status != "pending":
            outcome = "account_exists"  # nothing changes; the owner can reset the password
        else:
            if account is None:
                account = citizen.account(ctx, password=None, status="pending", created_at=clock.now())
                uow.session.add(account)
            account.full_name = full_name.strip()
            account.birth_date, account.sex = birth_date, sex
            account.email, account.phone = on_file.email, on_file.phone
            account.password_hash = password_hash
            account.failed_logins, account.locked_until = 0, None
            await uow.flush()
            if on_file.email or on_file.phone:
                await issue_code(uow, ctx, account, "activate")
                outcome = "code_sent"
            else:
                # No contact on file: only an in-person code (which a new registration leaves valid) opens it.
                await uow.session.execute(
                    update(OneTimeCode).where(*_unused(account.id, "activate")).values(used_at=clock.now())
                )
                outcome = "in_person_needed"
        subject = account.id if account is not None and outcome != "no_match" else "unknown"
        audit_account(uow, "anonymous", "identity.registration_requested", subject, {"outcome": outcome})
        await uow.commit()


@dataclass(frozen=True)
class InPersonCode:
    code: str
    expires_at: datetime
    # Masked, for the official to tell the person where online codes would go ("09••••567").
    phone: str | None
    email: str | None


async def issue_in_person_code(
    ctx: IdentityContext,
    actor: Principal,
    *,
    id_number: str,
    full_name: str,
    birth_date: date,
    sex: str,
) -> InPersonCode:
    """A one-time activation code for the person whose identity card a one-stop official has checked,
    for people the registry holds no phone or e-mail for (or who cannot receive them). Printed and
    handed over; the person registers online (choosing a password) and enters it on the activation
    page with that password. Only its hash is kept; issuing one is audited under the official's name."""
    require(actor, "identity.activation_code.issue")
    citizen = NewCitizen.of(id_number=id_number, full_name=full_name, birth_date=birth_date, sex=sex)
    errors = citizen.errors()
    if age_on(birth_date, clock.now().date()) < CHILD_AGE_LIMIT:
        errors.append(FieldError(("birth_date",), "Children under 14 are registered by a parent"))
    if errors:
        raise ValidationFailed(errors=errors)
    on_file = await ctx.verifier.on_file(
        id_number=citizen.id_number, full_name=full_name, birth_date=birth_date, sex=sex
    )
    if on_file is None:
        raise ValidationFailed(
            errors=[FieldError(("id_number",), "No person with these details is registered")]
        )
    code = f"{secrets.randbelow(10**IN_PERSON_DIGITS):0{IN_PERSON_DIGITS}d}"
    expires = clock.now() + IN_PERSON_TTL
    async with ctx.db.uow() as uow:
        account = await _by_id_number(uow, citizen.id_number)
        if account is not None and account.status != "pending":
            raise Conflict("This person already has an account; they can reset the password")
        if account is None:
            account = citizen.account(ctx, password=None, status="pending", created_at=clock.now())
            account.email, account.phone = on_file.email, on_file.phone
            uow.session.add(account)
            await uow.flush()
        await uow.session.execute(
            update(OneTimeCode).where(*_unused(account.id, "in_person")).values(used_at=clock.now())
        )
        uow.session.add(
            OneTimeCode(
                id=new_id(),
                account_id=account.id,
                purpose="in_person",
                code_hash=code_hash(code),
                expires_at=expires,
                attempts=0,
            )
        )
        audit_account(uow, actor.ref, "identity.in_person_code_issued", account.id)
        await uow.commit()
    return InPersonCode(code, expires, mask_phone(on_file.phone), mask_email(on_file.email))


def mask_phone(phone: str | None) -> str | None:
    return f"{phone[:2]}{'•' * 4}{phone[-3:]}" if phone and len(phone) >= 6 else ("•" * 4 if phone else None)


def mask_email(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    local, domain = email.split("@", 1)
    return f"{local[:1]}{'•' * 4}@{domain}"


async def activate(ctx: IdentityContext, *, id_number: str, code: str, password: str) -> None:
    """Opens a pending account with a live code (sent to the contact on file, or printed in person) and
    the password chosen when registering. The password binds the code to that registration: if a
    stranger registered the number after the person did, the code that reaches the person does not open
    the stranger's registration, and the person simply registers again."""
    async with ctx.db.uow() as uow:
        account = await _by_id_number(uow, id_number.strip())
        pending = account if account is not None and account.status == "pending" else None
        # Checked on every path, so that the time taken does not tell a pending account from none.
        password_ok = passwords.verify_password(pending.password_hash if pending else None, password)
        rows = await _live_codes(uow, pending, ("activate", "in_person")) if pending else []
        match = next((r for r in rows if secrets.compare_digest(r.code_hash, code_hash(code.strip()))), None)
        ok = pending is not None and match is not None and password_ok
        if pending is not None and match is not None and ok:
            match.used_at = clock.now()
            pending.status = "active"
            pending.activated_at = clock.now()
        else:
            for row in rows:  # a wrong guess (of the code or the password) counts against every live code
                row.attempts += 1
        await _record_attempt(uow, account, "identity.activated" if ok else "identity.activation_failed")
    if not ok:
        raise wrong_activation()


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
