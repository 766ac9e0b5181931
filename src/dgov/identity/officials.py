"""Officials' and operators' accounts, and the roles they hold in an agency for an administrative unit."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import or_, select

from dgov.identity import passwords
from dgov.identity.account_rules import audit_account, check_password, check_totp_secret, new_account
from dgov.identity.authz import Principal, require
from dgov.identity.context import IdentityContext
from dgov.identity.models import Account, OfficialRole
from dgov.identity.roles import NATIONWIDE, ROLES
from dgov.identity.sessions import revoke_all_in
from dgov.kernel import clock
from dgov.kernel.errors import Conflict, FieldError, NotFound, ValidationFailed
from dgov.kernel.uow import UnitOfWork

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
OFFICIAL_KINDS = ("official", "operator")


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
        held = {(r.agency_code, r.role, r.unit_code) for r in await roles_of(uow, account_id)}
        if (agency, role, unit) in held:
            raise ValidationFailed(errors=[FieldError(("role",), "The official already holds this role")])
        if role == "operator":
            target.kind = "operator"  # as add_official makes it; revoke_role turns it back
        _add_role(uow, actor, "identity.role_granted", account_id, agency, role, unit)
        await uow.commit()


async def roles_of(uow: UnitOfWork, account_id: uuid.UUID) -> list[OfficialRole]:
    return list(await uow.session.scalars(select(OfficialRole).where(OfficialRole.account_id == account_id)))


# --- managing existing officials --------------------------------------------------------------------
# Each use case refuses what would lock the platform out: an operator cannot disable or otherwise lock
# out themself, and the last active operator cannot lose that status (nobody could then manage anyone).


async def _official(uow: UnitOfWork, account_id: uuid.UUID) -> Account:
    target = await uow.session.get(Account, account_id)
    if target is None or target.kind not in OFFICIAL_KINDS:
        # Citizens' accounts are not managed from here: their security is theirs alone.
        raise NotFound("No such official")
    return target


async def _active_operators(uow: UnitOfWork) -> dict[uuid.UUID, Account]:
    """Every active account that passes `is_operator`, locked against a concurrent change on PostgreSQL.

    The lock is what keeps two operators who disable each other at the same moment from leaving none:
    the second waits for the first and then counts again. The count reads the locked rows afresh and the
    roles with a statement of its own, issued after the wait, so it sees what the first one committed."""
    holders = select(OfficialRole.account_id).where(OfficialRole.role == "operator")
    locked = await uow.session.scalars(
        select(Account)
        .where(or_(Account.kind == "operator", Account.id.in_(holders)))
        .order_by(Account.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    accounts = list(locked)
    holding = set(await uow.session.scalars(holders))
    return {a.id: a for a in accounts if a.status == "active" and (a.kind == "operator" or a.id in holding)}


async def _keep_an_operator(uow: UnitOfWork, target: Account) -> None:
    operators = await _active_operators(uow)
    if target.id in operators and len(operators) == 1:
        raise Conflict("This is the last active operator: add or enable another operator first")


async def disable_official(ctx: IdentityContext, actor: Principal, *, account_id: uuid.UUID) -> Account:
    """The account can no longer log in, and every session it has ends now. Its roles stay, so enabling it
    again gives back exactly what it had."""
    require(actor, "identity.official.manage")
    async with ctx.db.uow() as uow:
        target = await _official(uow, account_id)
        if actor.account_id == target.id:
            raise Conflict("You cannot disable your own account")
        if target.status == "disabled":
            return target  # a second click on a stale page: nothing more to do, nothing to record
        await _keep_an_operator(uow, target)
        target.status = "disabled"
        await revoke_all_in(uow, target.id)
        audit_account(uow, actor.ref, "identity.official_disabled", target.id, {"previous": "active"})
        await uow.commit()
    return target


async def enable_official(ctx: IdentityContext, actor: Principal, *, account_id: uuid.UUID) -> Account:
    require(actor, "identity.official.manage")
    async with ctx.db.uow() as uow:
        target = await _official(uow, account_id)
        if target.status == "active":
            return target
        target.status = "active"
        # A lock earned before the account was disabled would otherwise greet its return.
        target.failed_logins, target.locked_until = 0, None
        audit_account(uow, actor.ref, "identity.official_enabled", target.id)
        await uow.commit()
    return target


async def revoke_role(ctx: IdentityContext, actor: Principal, *, role_id: int) -> Account:
    """Remove one role grant. It takes effect at the official's next request: sessions read roles afresh."""
    require(actor, "identity.official.manage")
    async with ctx.db.uow() as uow:
        grant = await uow.session.get(OfficialRole, role_id)
        if grant is None:
            raise NotFound("No such role grant")
        target = await _official(uow, grant.account_id)
        others = [r for r in await roles_of(uow, target.id) if r.id != grant.id]
        still_operator = any(r.role == "operator" for r in others)
        if grant.role == "operator" and not still_operator:
            if actor.account_id == target.id:
                raise Conflict("You cannot remove your own operator role")
            await _keep_an_operator(uow, target)
            # The kind follows the role (as add_official sets it), or `is_operator` would still pass.
            target.kind = "official"
        details = {
            "agency": grant.agency_code,
            "role": grant.role,
            "unit": grant.unit_code,
            "grant": grant.id,
        }
        await uow.session.delete(grant)
        audit_account(uow, actor.ref, "identity.role_revoked", target.id, details)
        await uow.commit()
    return target


async def reset_second_factor(ctx: IdentityContext, actor: Principal, *, account_id: uuid.UUID) -> Account:
    """For a lost or compromised authenticator: the factor is removed and every session ends; the official
    enrols a new app at their next login that asks for level 2."""
    require(actor, "identity.official.manage")
    async with ctx.db.uow() as uow:
        target = await _official(uow, account_id)
        if actor.account_id == target.id:
            raise Conflict("Manage your own second factor from your account page")
        if target.totp_secret is None:
            raise Conflict("This account has no second factor to reset")
        target.totp_secret = None
        target.totp_last_step = None
        await revoke_all_in(uow, target.id)
        audit_account(uow, actor.ref, "identity.official_totp_reset", target.id)
        await uow.commit()
    return target


async def reset_official_password(
    ctx: IdentityContext, actor: Principal, *, account_id: uuid.UUID, password: str
) -> Account:
    """A new initial password for an official who lost theirs; every session ends, since the old password
    may be known to someone else."""
    require(actor, "identity.official.manage")
    async with ctx.db.uow() as uow:
        target = await _official(uow, account_id)
        # A session alone (perhaps someone else's hands on an unlocked screen) must not set its password.
        if actor.account_id == target.id:
            raise Conflict("Another operator must reset your own password")
        check_password(password, user_inputs=[target.username or "", target.full_name])
        target.password_hash = passwords.hash_password(password)
        target.failed_logins, target.locked_until = 0, None
        await revoke_all_in(uow, target.id)
        audit_account(uow, actor.ref, "identity.official_password_reset", target.id)  # never the password
        await uow.commit()
    return target
