"""Account use cases: citizens (and their children under 14), officials, second factor, passwords."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select, update

from dgov.identity import passwords, totp
from dgov.identity.authz import Principal, require
from dgov.identity.context import IdentityContext
from dgov.identity.models import Account, OfficialRole, OneTimeCode
from dgov.identity.national_id import IdNumberError, validate_id_number
from dgov.identity.roles import NATIONWIDE, ROLES
from dgov.kernel import clock
from dgov.kernel.audit import AuditEntry
from dgov.kernel.errors import Conflict, FieldError, NotFound, ValidationFailed
from dgov.kernel.ids import new_id
from dgov.kernel.uow import UnitOfWork

TOTP_PURPOSE = "identity.totp"
CHILD_AGE_LIMIT = 14


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _check_password(password: str, *, field: str, user_inputs: list[str]) -> None:
    problems = passwords.password_problems(password, user_inputs=user_inputs)
    if problems:
        raise ValidationFailed(errors=[FieldError((field,), p) for p in problems])


def _check_citizen(id_number: str, full_name: str, birth_date: date, sex: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if sex not in ("M", "F"):
        errors.append(FieldError(("sex",), "Choose male or female"))
    if not full_name.strip():
        errors.append(FieldError(("full_name",), "Enter the full name"))
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
    id_number = id_number.strip()
    errors = _check_citizen(id_number, full_name, birth_date, sex)
    if errors:
        raise ValidationFailed(errors=errors)
    if password is not None:
        _check_password(password, field="password", user_inputs=[full_name, id_number, *full_name.split()])
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
                details={"second_factor": totp_secret is not None},
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
    ctx: IdentityContext, actor: Principal, *, id_number: str, full_name: str, birth_date: date, sex: str
) -> Account:
    """Link a child under 14 under the acting parent's account (no login of its own)."""
    if actor.kind != "citizen" or actor.account_id is None:
        require(actor, "identity.citizen.create")
    if age_on(birth_date, clock.now().date()) >= CHILD_AGE_LIMIT:
        raise ValidationFailed(
            errors=[FieldError(("birth_date",), "Only children under 14 are linked to a parent")]
        )
    system_actor = Principal(kind="operator") if actor.kind == "citizen" else actor
    return await add_citizen(
        ctx,
        system_actor,
        id_number=id_number,
        full_name=full_name,
        birth_date=birth_date,
        sex=sex,
        password=None,
        guardian_id=actor.account_id if actor.kind == "citizen" else None,
    )


async def children_of(ctx: IdentityContext, guardian_id: uuid.UUID) -> list[Account]:
    async with ctx.db.uow(readonly=True) as uow:
        rows = await uow.session.scalars(
            select(Account).where(Account.guardian_id == guardian_id).order_by(Account.birth_date)
        )
        return list(rows)


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
    if not username or not username.replace(".", "").replace("_", "").replace("-", "").isalnum():
        errors.append(FieldError(("username",), "Use letters, digits, dots, dashes or underscores"))
    if role not in ROLES:
        errors.append(FieldError(("role",), "Unknown role"))
    if not agency.strip():
        errors.append(FieldError(("agency",), "Enter the agency code"))
    if unit != NATIONWIDE and not (unit.isdigit() and len(unit) in (2, 5)):
        errors.append(FieldError(("unit",), "Enter a province (2 digits) or commune (5 digits) code, or *"))
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
                details={"agency": agency, "role": role, "unit": unit},
            )
        )
        await uow.commit()
    return account


async def grant_role(
    ctx: IdentityContext, actor: Principal, *, account_id: uuid.UUID, agency: str, role: str, unit: str
) -> None:
    require(actor, "identity.official.manage")
    if role not in ROLES:
        raise ValidationFailed(errors=[FieldError(("role",), "Unknown role")])
    async with ctx.db.uow() as uow:
        if await uow.session.get(Account, account_id) is None:
            raise NotFound("No such account")
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
    """Self-registration: a pending account, activated by the code sent to the person's phone or email."""
    id_number = id_number.strip()
    errors = _check_citizen(id_number, full_name, birth_date, sex)
    if not (email or phone):
        errors.append(
            FieldError(("phone",), "Enter a phone number or an email address for the activation code")
        )
    if age_on(birth_date, clock.now().date()) < CHILD_AGE_LIMIT:
        errors.append(FieldError(("birth_date",), "Children under 14 are registered by a parent"))
    if errors:
        raise ValidationFailed(errors=errors)
    _check_password(password, field="password", user_inputs=[full_name, id_number, *full_name.split()])
    if not await ctx.verifier.verify(
        id_number=id_number, full_name=full_name, birth_date=birth_date, sex=sex
    ):
        raise ValidationFailed(
            errors=[FieldError(("id_number",), "No person with these details is registered")]
        )
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
            )
        )
        await uow.commit()
    return account


async def _consume_code(uow: UnitOfWork, account: Account, purpose: str, code: str) -> bool:
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
    if row is None or row.expires_at < clock.now() or row.attempts >= 5:
        return False
    if not secrets.compare_digest(row.code_hash, code_hash(code.strip())):
        row.attempts += 1
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
    """Always answers the same way, so the form does not reveal which ID numbers have accounts."""
    async with ctx.db.uow() as uow:
        account = await uow.session.scalar(select(Account).where(Account.id_number == id_number.strip()))
        if account is not None and account.status == "active" and (account.email or account.phone):
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
    async with ctx.db.uow() as uow:
        account = await uow.session.scalar(select(Account).where(Account.id_number == id_number.strip()))
        if account is not None:
            _check_password(
                new_password,
                field="password",
                user_inputs=[account.full_name, id_number, *account.full_name.split()],
            )
        ok = account is not None and await _consume_code(uow, account, "reset", code)
        if account is not None and ok:
            account.password_hash = passwords.hash_password(new_password)
            account.failed_logins = 0
            account.locked_until = None
            from dgov.identity.sessions import revoke_all_in

            await revoke_all_in(uow, account.id)  # a reset ends every session: the old password may be known
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
