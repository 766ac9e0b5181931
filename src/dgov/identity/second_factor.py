"""Enrolling a TOTP authenticator app as a person's second factor."""

from __future__ import annotations

from dataclasses import dataclass

from dgov.identity import totp
from dgov.identity.account_rules import TOTP_PURPOSE, audit_account, wrong_code
from dgov.identity.authz import Principal, require
from dgov.identity.context import IdentityContext
from dgov.identity.models import Account
from dgov.kernel import clock
from dgov.kernel.errors import Forbidden, NotFound


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
            raise wrong_code()
        account.totp_secret = ctx.box(TOTP_PURPOSE).seal(secret)
        account.totp_last_step = step
        audit_account(uow, actor.ref, "identity.totp_enrolled", account.id)
        await uow.commit()
