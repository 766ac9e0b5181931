"""Officials' and operators' accounts, and the roles they hold in an agency for an administrative unit."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select

from dgov.identity.account_rules import audit_account, check_password, check_totp_secret, new_account
from dgov.identity.authz import Principal, require
from dgov.identity.context import IdentityContext
from dgov.identity.models import Account, OfficialRole
from dgov.identity.roles import NATIONWIDE, ROLES
from dgov.kernel import clock
from dgov.kernel.errors import Conflict, FieldError, NotFound, ValidationFailed
from dgov.kernel.uow import UnitOfWork

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
    check_password(password, user_inputs=[username, full_name or ""])
    if totp_secret is not None:
        check_totp_secret(totp_secret)
    now = clock.now()
    async with ctx.db.uow() as uow:
        taken = await uow.session.scalar(select(Account.id).where(Account.username == username))
        if taken is not None:
            raise Conflict("This username is already taken")
        account = new_account(
            ctx,
            password=password,
            totp_secret=totp_secret,
            kind="operator" if role == "operator" else "official",
            username=username,
            full_name=(full_name or username).strip(),
            status="active",
            created_at=now,
            activated_at=now,
        )
        uow.session.add(account)
        _add_role(uow, actor, "identity.official_created", account.id, agency.strip(), role, unit)
        await uow.commit()
    return account


def _add_role(
    uow: UnitOfWork, actor: Principal, action: str, account_id: uuid.UUID, agency: str, role: str, unit: str
) -> None:
    uow.session.add(OfficialRole(account_id=account_id, agency_code=agency, role=role, unit_code=unit))
    audit_account(uow, actor.ref, action, account_id, {"agency": agency, "role": role, "unit": unit})


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
        _add_role(uow, actor, "identity.role_granted", account_id, agency, role, unit)
        await uow.commit()


async def roles_of(uow: UnitOfWork, account_id: uuid.UUID) -> list[OfficialRole]:
    return list(await uow.session.scalars(select(OfficialRole).where(OfficialRole.account_id == account_id)))
