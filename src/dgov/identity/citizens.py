"""Citizens' accounts made by an operator (or the demo), and children under 14 linked to a parent."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select

from dgov.identity.account_rules import (
    CHILD_AGE_LIMIT,
    NewCitizen,
    age_on,
    audit_account,
    check_totp_secret,
)
from dgov.identity.authz import Principal, require
from dgov.identity.context import IdentityContext
from dgov.identity.models import Account
from dgov.kernel import clock
from dgov.kernel.errors import Conflict, FieldError, NotFound, ValidationFailed
from dgov.kernel.uow import UnitOfWork


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
    citizen = NewCitizen.of(
        id_number=id_number, full_name=full_name, birth_date=birth_date, sex=sex, email=email, phone=phone
    )
    return await _create_citizen(
        ctx, actor, citizen, password=password, totp_secret=totp_secret, guardian_id=guardian_id
    )


async def _create_citizen(
    ctx: IdentityContext,
    actor: Principal,
    citizen: NewCitizen,
    *,
    password: str | None,
    totp_secret: str | None,
    guardian_id: uuid.UUID | None,
) -> Account:
    """The creation itself; callers have checked that `actor` may create this account."""
    errors = citizen.errors()
    if errors:
        raise ValidationFailed(errors=errors)
    if password is not None:
        citizen.check_password(password)
    if totp_secret is not None:
        check_totp_secret(totp_secret)
    if actor.kind != "system":
        # The node's own administrative tools (CLI, demo, registry-driven onboarding) act as SYSTEM and
        # create accounts for people they took from the registry; everyone else is checked against it.
        await citizen.verify(ctx)
    now = clock.now()
    async with ctx.db.uow() as uow:
        if await _id_number_taken(uow, citizen.id_number):
            raise Conflict("An account already exists for this personal identification number")
        account = citizen.account(
            ctx,
            password=password,
            totp_secret=totp_secret,
            status="active",
            guardian_id=guardian_id,
            created_at=now,
            activated_at=now,
        )
        uow.session.add(account)
        audit_account(
            uow,
            actor.ref,
            "identity.citizen_created",
            account.id,
            {"second_factor": totp_secret is not None, "guardian": str(guardian_id) if guardian_id else None},
        )
        await uow.commit()
    return account


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
    if age_on(birth_date, clock.local_today()) >= CHILD_AGE_LIMIT:
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
    child = NewCitizen.of(id_number=id_number, full_name=full_name, birth_date=birth_date, sex=sex)
    return await _create_citizen(ctx, actor, child, password=None, totp_secret=None, guardian_id=guardian_id)


async def children_of(ctx: IdentityContext, guardian_id: uuid.UUID) -> list[Account]:
    async with ctx.db.uow(readonly=True) as uow:
        rows = await uow.session.scalars(
            select(Account).where(Account.guardian_id == guardian_id).order_by(Account.birth_date)
        )
        return list(rows)


async def get_account(ctx: IdentityContext, actor: Principal, account_id: uuid.UUID) -> Account:
    async with ctx.db.uow(readonly=True) as uow:
        account = await uow.session.get(Account, account_id)
    if account is None:
        raise NotFound("No such account")
    require(actor, "identity.account.view", account)
    return account
