"""Account use cases: citizens (and their children under 14), officials, second factor, passwords."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select, update

from dgov.identity import passwords, totp
from dgov.identity.authz import Principal, require
from dgov.identity.context import IdentityContext
from dgov.identity.models import Account, OfficialRole, OneTimeCode
from dgov.identity.national_id import IdNumberError, validate_id_number
from dgov.identity.roles import NATIONWIDE, ROLES
from dgov.kernel import clock
from dgov.kernel.audit import AuditEntry
from dgov.kernel.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from dgov.kernel.ids import new_id
from dgov.kernel.uow import UnitOfWork

TOTP_PURPOSE = "identity.totp"
CHILD_AGE_LIMIT = 14
MAX_CODE_ATTEMPTS = 5
MAX_RESET_CODES_PER_HOUR = 5
PHONE = re.compile(r"\+?[0-9]{8,15}")  # E.164 allows at most 15 digits


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _check_password(password: str, *, field: str, user_inputs: list[str]) -> None:
    problems = passwords.password_problems(password, user_inputs=user_inputs)
    if problems:
        raise ValidationFailed(errors=[FieldError((field,), p) for p in problems])


def _personal_inputs(full_name: str, id_number: str, birth_date: date | None) -> list[str]:
    """What a password must not be built from: the person's name, ID number and birth date."""
    inputs = [full_name, id_number]
    if birth_date is not None:
        inputs += [birth_date.isoformat(), birth_date.strftime("%d%m%Y"), birth_date.strftime("%d%m%y")]
    return inputs


def _normal_phone(phone: str | None) -> str | None:
    """People write "0912 000 001" or "0912.000.001"; the number is the digits (and a leading +)."""
    return re.sub(r"[\s.()-]", "", phone) or None if phone else None


def _check_contact(email: str | None, phone: str | None) -> list[FieldError]:
    # The column sizes: PostgreSQL refuses a longer value with an error, not a message for the person.
    errors = []
    if email is not None and (len(email) > 200 or "@" not in email):
        errors.append(FieldError(("email",), "Enter a valid email address"))
    if phone is not None and not PHONE.fullmatch(phone):
        errors.append(FieldError(("phone",), "Enter a phone number of 8 to 15 digits"))
    return errors


def _check_citizen(id_number: str, full_name: str, birth_date: date, sex: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if sex not in ("M", "F"):
        errors.append(FieldError(("sex",), "Choose male or female"))
    if not full_name.strip():
        errors.append(FieldError(("full_name",), "Enter the full name"))
    elif len(full_name.strip()) > 200:
        errors.append(FieldError(("full_name",), "Use at most 200 characters"))
    if birth_date > clock.now().date():
        errors.append(FieldError(("birth_date",), "The birth date cannot be in the future"))
    try:
        validate_id_number(id_number, birth_date=birth_date, sex=sex if sex in ("M", "F") else None)
    except IdNumberError as exc:
        errors.append(FieldError(("id_number",), exc.msgid))
    return errors


async def _id_number_taken(uow: UnitOfWork, id_number: str) -> bool:
    return (await uow.session.scalar(select(Account.id).where(Account.id_number == id_number))) is not None


async def add_citizen(
    ctx: IdentityContext,
    actor: Principal,
    *,
    id_number: str,
    full_name: str,
    birth_date: date,
    sex: str,
    password: str | None,
    totp_secret: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    guardian_id: uuid.UUID | None = None,
) -> Account:
    """An operator (or the demo) creates an active citizen account."""
    require(actor, "identity.citizen.create")
    return await _create_citizen(
        ctx,
        actor,
        id_number=id_number,
        full_name=full_name,
        birth_date=birth_date,
        sex=sex,
        password=password,
        totp_secret=totp_secret,
        email=email,
        phone=phone,
        guardian_id=guardian_id,
    )


async def _create_citizen(
    ctx: IdentityContext,
    actor: Principal,
    *,
    id_number: str,
    full_name: str,
    birth_date: date,
    sex: str,
    password: str | None,
    totp_secret: str | None,
    email: str | None,
    phone: str | None,
    guardian_id: uuid.UUID | None,
) -> Account:
    """The creation itself; callers have checked that `actor` may create this account."""
    id_number = id_number.strip()
    email, phone = (email or "").strip() or None, _normal_phone(phone)
    errors = _check_citizen(id_number, full_name, birth_date, sex) + _check_contact(email, phone)
    if errors:
        raise ValidationFailed(errors=errors)
    if password is not None:
        _check_password(
            password, field="password", user_inputs=_personal_inputs(full_name, id_number, birth_date)
        )
    if totp_secret is not None:
        _check_totp_secret(totp_secret)
    if not await ctx.verifier.verify(
        id_number=id_number, full_name=full_name, birth_date=birth_date, sex=sex
    ):
        raise ValidationFailed(
            errors=[FieldError(("id_number",), "No person with these details is registered")]
        )
    now = clock.now()
    async with ctx.db.uow() as uow:
        if await _id_number_taken(uow, id_number):
            raise Conflict("An account already exists for this personal identification number")
        account = Account(
            id=new_id(),
            kind="citizen",
            id_number=id_number,
            full_name=full_name.strip(),
            birth_date=birth_date,
            sex=sex,
            email=email,
            phone=phone,
            password_hash=passwords.hash_password(password) if password else None,
            totp_secret=ctx.box(TOTP_PURPOSE).seal(totp_secret) if totp_secret else None,
            status="active",
            guardian_id=guardian_id,
            failed_logins=0,
            created_at=now,
            activated_at=now,
        )
        uow.session.add(account)
        uow.audit(
            AuditEntry(
                actor=actor.ref,
                action="identity.citizen_created",
                object_type="account",
                object_id=str(account.id),
                details={
                    "second_factor": totp_secret is not None,
                    "guardian": str(guardian_id) if guardian_id else None,
                },
            )
        )
        await uow.commit()
    return account


def _check_totp_secret(secret: str) -> None:
    import base64
    import binascii

    try:
        raw = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) < 10:  # RFC 4226 asks for at least 128 bits; 80 is the floor authenticator apps accept
        raise ValidationFailed(
            errors=[FieldError(("totp_secret",), "The TOTP secret must be base32, 16+ characters")]
        )


async def register_child(
    ctx: IdentityContext,
    actor: Principal,
    *,
    id_number: str,
    full_name: str,
    birth_date: date,
    sex: str,
    guardian_id: uuid.UUID | None = None,
) -> Account:
    """Link a child under 14 under a parent's account (no login of its own).

    A citizen links a child under their own account; an operator names the guardian. The audit record
    names whoever did it (the parent), never a stand-in."""
    if actor.kind == "citizen" and actor.account_id is not None and actor.level >= 1:
        guardian_id = actor.account_id
    else:
        require(actor, "identity.citizen.create")
    errors: list[FieldError] = []
    if age_on(birth_date, clock.now().date()) >= CHILD_AGE_LIMIT:
        errors.append(FieldError(("birth_date",), "Only children under 14 are linked to a parent"))
    async with ctx.db.uow(readonly=True) as uow:
        guardian = await uow.session.get(Account, guardian_id) if guardian_id else None
    if (
        guardian is None
        or guardian.kind != "citizen"
        or guardian.status != "active"
        or guardian.guardian_id is not None
    ):
        errors.append(
            FieldError(("guardian_id",), "The parent or guardian must have an active citizen account")
        )
    if errors:
        raise ValidationFailed(errors=errors)
    return await _create_citizen(
        ctx,
        actor,
        id_number=id_number,
        full_name=full_name,
        birth_date=birth_date,
        sex=sex,
        password=None,
        totp_secret=None,
        email=None,
        phone=None,
        guardian_id=guardian_id,
    )


async def children_of(ctx: IdentityContext, guardian_id: uuid.UUID) -> list[Account]:
    async with ctx.db.uow(readonly=True) as uow:
        rows = await uow.session.scalars(
            select(Account).where(Account.guardian_id == guardian_id).order_by(Account.birth_date)
        )
        return list(rows)


USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def _role_errors(agency: str, role: str, unit: str) -> list[FieldError]:
    errors = []
    if role not in ROLES:
        errors.append(FieldError(("role",), "Unknown role"))
    if not agency.strip() or len(agency.strip()) > 50:
        errors.append(FieldError(("agency",), "Enter the agency code"))
    # isdigit() alone would let full-width or other scripts' digits through.
    if unit != NATIONWIDE and not (unit.isascii() and unit.isdigit() and len(unit) in (2, 5)):
        errors.append(FieldError(("unit",), "Enter a province (2 digits) or commune (5 digits) code, or *"))
    return errors


async def add_official(
    ctx: IdentityContext,
    actor: Principal,
    *,
    username: str,
    agency: str,
    role: str,
    unit: str,
    password: str,
    full_name: str | None = None,
    totp_secret: str | None = None,
) -> Account:
    require(actor, "identity.official.manage")
    username = username.strip().lower()
    errors = []
    if not USERNAME.fullmatch(username):
        errors.append(FieldError(("username",), "Use letters, digits, dots, dashes or underscores"))
    elif username.isdigit():
        # The login form looks a 12-digit identifier up as an ID number and as a username alike.
        errors.append(FieldError(("username",), "A username cannot be only digits"))
    if full_name is not None and len(full_name.strip()) > 200:
        errors.append(FieldError(("full_name",), "Use at most 200 characters"))
    errors += _role_errors(agency, role, unit)
    if errors:
        raise ValidationFailed(errors=errors)
    _check_password(password, field="password", user_inputs=[username, full_name or ""])
    if totp_secret is not None:
        _check_totp_secret(totp_secret)
    now = clock.now()
    async with ctx.db.uow() as uow:
        taken = await uow.session.scalar(select(Account.id).where(Account.username == username))
        if taken is not None:
            raise Conflict("This username is already taken")
        account = Account(
            id=new_id(),
            kind="operator" if role == "operator" else "official",
            username=username,
            full_name=(full_name or username).strip(),
            password_hash=passwords.hash_password(password),
            totp_secret=ctx.box(TOTP_PURPOSE).seal(totp_secret) if totp_secret else None,
            status="active",
            failed_logins=0,
            created_at=now,
            activated_at=now,
        )
        uow.session.add(account)
        uow.session.add(
            OfficialRole(account_id=account.id, agency_code=agency.strip(), role=role, unit_code=unit)
        )
        uow.audit(
            AuditEntry(
                actor=actor.ref,
                action="identity.official_created",
                object_type="account",
                object_id=str(account.id),
                details={"agency": agency.strip(), "role": role, "unit": unit},
            )
        )
        await uow.commit()
    return account


async def grant_role(
    ctx: IdentityContext, actor: Principal, *, account_id: uuid.UUID, agency: str, role: str, unit: str
) -> None:
    require(actor, "identity.official.manage")
    errors = _role_errors(agency, role, unit)
    if errors:
        raise ValidationFailed(errors=errors)
    agency = agency.strip()
    async with ctx.db.uow() as uow:
        target = await uow.session.get(Account, account_id)
        if target is None:
            raise NotFound("No such account")
        if target.kind == "citizen":
            raise ValidationFailed(
                errors=[FieldError(("role",), "Roles are held by officials, not citizens")]
            )
        uow.session.add(OfficialRole(account_id=account_id, agency_code=agency, role=role, unit_code=unit))
        uow.audit(
            AuditEntry(
                actor=actor.ref,
                action="identity.role_granted",
                object_type="account",
                object_id=str(account_id),
                details={"agency": agency, "role": role, "unit": unit},
            )
        )
        await uow.commit()


async def roles_of(uow: UnitOfWork, account_id: uuid.UUID) -> list[OfficialRole]:
    return list(await uow.session.scalars(select(OfficialRole).where(OfficialRole.account_id == account_id)))


# --- second factor ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str
    uri: str
    qr_svg: str


def start_totp_enrolment(account: Account) -> TotpEnrolment:
    secret = totp.new_secret()
    label = account.id_number or account.username or str(account.id)
    uri = totp.provisioning_uri(secret, account_name=label)
    return TotpEnrolment(secret=secret, uri=uri, qr_svg=totp.qr_svg(uri))


async def confirm_totp_enrolment(ctx: IdentityContext, actor: Principal, *, secret: str, code: str) -> None:
    """The person proves the app works by typing a current code; only then is the factor stored."""
    async with ctx.db.uow() as uow:
        account = await uow.session.get(Account, actor.account_id) if actor.account_id else None
        if account is None:
            raise NotFound("No such account")
        require(actor, "identity.account.manage_security", account)
        if account.totp_secret is not None and actor.level < 2:
            # Otherwise a password alone (a level-1 session) could swap the factor that guards level 2.
            raise Forbidden("Log in with your current second factor to replace it")
        step = totp.matching_step(secret, code, at=clock.now(), after_step=None)
        if step is None:
            raise ValidationFailed(errors=[FieldError(("code",), "The code is not correct or has expired")])
        account.totp_secret = ctx.box(TOTP_PURPOSE).seal(secret)
        account.totp_last_step = step
        uow.audit(
            AuditEntry(
                actor=actor.ref,
                action="identity.totp_enrolled",
                object_type="account",
                object_id=str(account.id),
            )
        )
        await uow.commit()


# --- activation and password reset through one-time codes -------------------------------------------


async def issue_code(uow: UnitOfWork, ctx: IdentityContext, account: Account, purpose: str) -> str:
    code = f"{secrets.randbelow(10**6):06d}"
    await uow.session.execute(
        update(OneTimeCode)
        .where(
            OneTimeCode.account_id == account.id,
            OneTimeCode.purpose == purpose,
            OneTimeCode.used_at.is_(None),
        )
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
    id_number = id_number.strip()
    email, phone = (email or "").strip() or None, _normal_phone(phone)
    errors = _check_citizen(id_number, full_name, birth_date, sex) + _check_contact(email, phone)
    if not (email or phone):
        errors.append(
            FieldError(("phone",), "Enter a phone number or an email address for the activation code")
        )
    if age_on(birth_date, clock.now().date()) < CHILD_AGE_LIMIT:
        errors.append(FieldError(("birth_date",), "Children under 14 are registered by a parent"))
    if errors:
        raise ValidationFailed(errors=errors)
    _check_password(
        password, field="password", user_inputs=_personal_inputs(full_name, id_number, birth_date)
    )
    if not await ctx.verifier.verify(
        id_number=id_number, full_name=full_name, birth_date=birth_date, sex=sex
    ):
        raise ValidationFailed(
            errors=[FieldError(("id_number",), "No person with these details is registered")]
        )
    async with ctx.db.uow() as uow:
        account = await uow.session.scalar(select(Account).where(Account.id_number == id_number))
        again = account is not None
        if account is not None:
            if account.status != "pending" or await _live_code(uow, account, "activate") is not None:
                raise Conflict("An account already exists for this personal identification number")
            account.full_name = full_name.strip()
            account.birth_date, account.sex = birth_date, sex
            account.email, account.phone = email or None, phone or None
            account.password_hash = passwords.hash_password(password)
            account.failed_logins, account.locked_until = 0, None
        else:
            account = Account(
                id=new_id(),
                kind="citizen",
                id_number=id_number,
                full_name=full_name.strip(),
                birth_date=birth_date,
                sex=sex,
                email=email or None,
                phone=phone or None,
                password_hash=passwords.hash_password(password),
                status="pending",
                failed_logins=0,
                created_at=clock.now(),
            )
            uow.session.add(account)
            await uow.flush()
        await issue_code(uow, ctx, account, "activate")
        uow.audit(
            AuditEntry(
                actor="anonymous",
                action="identity.citizen_registered",
                object_type="account",
                object_id=str(account.id),
                details={"again": again},
            )
        )
        await uow.commit()
    return account


async def _live_code(uow: UnitOfWork, account: Account, purpose: str) -> OneTimeCode | None:
    """The account's current code for `purpose`, if it can still be used."""
    row = await uow.session.scalar(
        select(OneTimeCode)
        .where(
            OneTimeCode.account_id == account.id,
            OneTimeCode.purpose == purpose,
            OneTimeCode.used_at.is_(None),
        )
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


async def activate(ctx: IdentityContext, *, id_number: str, code: str) -> None:
    async with ctx.db.uow() as uow:
        account = await uow.session.scalar(select(Account).where(Account.id_number == id_number.strip()))
        ok = (
            account is not None
            and account.status == "pending"
            and await _consume_code(uow, account, "activate", code)
        )
        if account is not None and ok:
            account.status = "active"
            account.activated_at = clock.now()
        uow.audit(
            AuditEntry(
                actor="anonymous",
                action="identity.activated" if ok else "identity.activation_failed",
                object_type="account",
                object_id=str(account.id) if account else "unknown",
            )
        )
        await uow.commit()
    if not ok:
        raise ValidationFailed(errors=[FieldError(("code",), "The code is not correct or has expired")])


async def request_password_reset(ctx: IdentityContext, *, id_number: str) -> None:
    """Always answers the same way, so the form does not reveal which ID numbers have accounts.

    At most MAX_RESET_CODES_PER_HOUR codes go out per account: anyone may type someone's ID number, and
    the form must not become a way to flood that person's phone. Requests beyond that are ignored
    silently, like those for unknown numbers."""
    async with ctx.db.uow() as uow:
        account = await uow.session.scalar(select(Account).where(Account.id_number == id_number.strip()))
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
            uow.audit(
                AuditEntry(
                    actor="anonymous",
                    action="identity.reset_requested",
                    object_type="account",
                    object_id=str(account.id),
                )
            )
            await uow.commit()


async def reset_password(ctx: IdentityContext, *, id_number: str, code: str, new_password: str) -> None:
    """The code is checked first and the password only after it, so that an unknown ID number and a
    known one answer alike (the person's own data in the password is refused only once the code has
    shown who they are). A refused password leaves the code usable for the next try."""
    problems = passwords.password_problems(new_password)  # the same for every account: reveals nothing
    if problems:
        raise ValidationFailed(errors=[FieldError(("password",), p) for p in problems])
    async with ctx.db.uow() as uow:
        account = await uow.session.scalar(select(Account).where(Account.id_number == id_number.strip()))
        row = await _check_code(uow, account, "reset", code) if account is not None else None
        if account is not None and row is not None:
            personal = passwords.password_problems(
                new_password,
                user_inputs=_personal_inputs(account.full_name, account.id_number or "", account.birth_date),
            )
            if personal:
                raise ValidationFailed(errors=[FieldError(("password",), p) for p in personal])
            row.used_at = clock.now()
            account.password_hash = passwords.hash_password(new_password)
            account.failed_logins = 0
            account.locked_until = None
            from dgov.identity.sessions import revoke_all_in

            await revoke_all_in(uow, account.id)  # a reset ends every session: the old password may be known
        ok = row is not None
        uow.audit(
            AuditEntry(
                actor="anonymous",
                action="identity.password_reset" if ok else "identity.reset_failed",
                object_type="account",
                object_id=str(account.id) if account else "unknown",
            )
        )
        await uow.commit()
    if not ok:
        raise ValidationFailed(errors=[FieldError(("code",), "The code is not correct or has expired")])


async def get_account(ctx: IdentityContext, actor: Principal, account_id: uuid.UUID) -> Account:
    async with ctx.db.uow(readonly=True) as uow:
        account = await uow.session.get(Account, account_id)
    if account is None:
        raise NotFound("No such account")
    require(actor, "identity.account.view", account)
    return account
