"""What the account use cases share: the checks on what people type, the registry check, the new row
and the audit record. Private to identity's use-case modules; callers import `service`."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from dgov.identity import passwords
from dgov.identity.context import IdentityContext
from dgov.identity.models import Account
from dgov.identity.national_id import IdNumberError, validate_id_number
from dgov.kernel import clock
from dgov.kernel.audit import AuditEntry
from dgov.kernel.errors import FieldError, ValidationFailed
from dgov.kernel.ids import new_id
from dgov.kernel.uow import UnitOfWork

TOTP_PURPOSE = "identity.totp"
CHILD_AGE_LIMIT = 14
PHONE = re.compile(r"\+?[0-9]{8,15}")  # E.164 allows at most 15 digits


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def check_password(password: str, *, user_inputs: list[str] | None = None) -> None:
    problems = passwords.password_problems(password, user_inputs=user_inputs)
    if problems:
        raise ValidationFailed(errors=[FieldError(("password",), p) for p in problems])


def personal_inputs(full_name: str, id_number: str, birth_date: date | None) -> list[str]:
    """What a password must not be built from: the person's name, ID number and birth date."""
    inputs = [full_name, id_number]
    if birth_date is not None:
        inputs += [birth_date.isoformat(), birth_date.strftime("%d%m%Y"), birth_date.strftime("%d%m%y")]
    return inputs


def check_totp_secret(secret: str) -> None:
    try:
        raw = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) < 10:  # RFC 4226 asks for at least 128 bits; 80 is the floor authenticator apps accept
        raise ValidationFailed(
            errors=[FieldError(("totp_secret",), "The TOTP secret must be base32, 16+ characters")]
        )


def wrong_code() -> ValidationFailed:
    return ValidationFailed(errors=[FieldError(("code",), "The code is not correct or has expired")])


def wrong_activation() -> ValidationFailed:
    # One message for a wrong code and a wrong password: which one was wrong is not said.
    return ValidationFailed(
        errors=[FieldError(("code",), "The code or the password is not correct, or the code has expired")]
    )


def new_account(
    ctx: IdentityContext, *, password: str | None, totp_secret: str | None = None, **fields: Any
) -> Account:
    """A new account row, its password hashed and its TOTP secret sealed."""
    return Account(
        id=new_id(),
        password_hash=passwords.hash_password(password) if password else None,
        totp_secret=ctx.box(TOTP_PURPOSE).seal(totp_secret) if totp_secret else None,
        failed_logins=0,
        **fields,
    )


def audit_account(
    uow: UnitOfWork,
    actor: str,
    action: str,
    account_id: uuid.UUID | str,
    details: dict[str, Any] | None = None,
) -> None:
    uow.audit(
        AuditEntry(
            actor=actor,
            action=action,
            object_type="account",
            object_id=str(account_id),
            details=details or {},
        )
    )


def _normal_phone(phone: str | None) -> str | None:
    """People write "0912 000 001" or "0912.000.001"; the number is the digits (and a leading +)."""
    return re.sub(r"[\s.()-]", "", phone) or None if phone else None


def _contact_errors(email: str | None, phone: str | None) -> list[FieldError]:
    # The column sizes: PostgreSQL refuses a longer value with an error, not a message for the person.
    errors = []
    if email is not None and (len(email) > 200 or "@" not in email):
        errors.append(FieldError(("email",), "Enter a valid email address"))
    if phone is not None and not PHONE.fullmatch(phone):
        errors.append(FieldError(("phone",), "Enter a phone number of 8 to 15 digits"))
    return errors


@dataclass(frozen=True)
class NewCitizen:
    """A new citizen account's details as typed, the ID number and contact normalised (see `of`)."""

    id_number: str
    full_name: str
    birth_date: date
    sex: str
    email: str | None
    phone: str | None

    @classmethod
    def of(
        cls,
        *,
        id_number: str,
        full_name: str,
        birth_date: date,
        sex: str,
        email: str | None = None,
        phone: str | None = None,
    ) -> NewCitizen:
        return cls(
            id_number.strip(), full_name, birth_date, sex, (email or "").strip() or None, _normal_phone(phone)
        )

    def errors(self) -> list[FieldError]:
        errors: list[FieldError] = []
        if self.sex not in ("M", "F"):
            errors.append(FieldError(("sex",), "Choose male or female"))
        if not self.full_name.strip():
            errors.append(FieldError(("full_name",), "Enter the full name"))
        elif len(self.full_name.strip()) > 200:
            errors.append(FieldError(("full_name",), "Use at most 200 characters"))
        if self.birth_date > clock.local_today():
            errors.append(FieldError(("birth_date",), "The birth date cannot be in the future"))
        try:
            sex = self.sex if self.sex in ("M", "F") else None
            validate_id_number(self.id_number, birth_date=self.birth_date, sex=sex)
        except IdNumberError as exc:
            errors.append(FieldError(("id_number",), exc.msgid))
        return errors + _contact_errors(self.email, self.phone)

    def check_password(self, password: str) -> None:
        check_password(password, user_inputs=personal_inputs(self.full_name, self.id_number, self.birth_date))

    async def verify(self, ctx: IdentityContext) -> None:
        """Refuses details the population registry does not know."""
        if not await ctx.verifier.verify(
            id_number=self.id_number, full_name=self.full_name, birth_date=self.birth_date, sex=self.sex
        ):
            raise ValidationFailed(
                errors=[FieldError(("id_number",), "No person with these details is registered")]
            )

    def account(self, ctx: IdentityContext, *, password: str | None, **fields: Any) -> Account:
        return new_account(
            ctx,
            password=password,
            kind="citizen",
            id_number=self.id_number,
            full_name=self.full_name.strip(),
            birth_date=self.birth_date,
            sex=self.sex,
            email=self.email,
            phone=self.phone,
            **fields,
        )
