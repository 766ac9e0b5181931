"""Issue 3 requirements about accounts that the other identity tests left unproven: an expired or replayed
activation code leaves an audit record and a translated message, and the README lists every demo log-in
with its password and TOTP seed (the issue's "Demo" section), so a reader can really log in with them."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from idkit import PASSWORD, audit_rows, id_number_for, reload
from sqlalchemy import select

from dgov.identity import demo, service
from dgov.identity.context import AcceptAll, IdentityContext
from dgov.identity.models import Account
from dgov.kernel.clock import FrozenClock
from dgov.kernel.errors import ValidationFailed
from dgov.kernel.i18n import translations
from dgov.kernel.models import OutboxMessage
from dgov.kernel.uow import Database

README = Path(__file__).resolve().parents[2] / "README.md"
BIRTH = date(1990, 3, 15)
AN = id_number_for(BIRTH, "M")
WRONG_CODE = "The code or the password is not correct, or the code has expired"


async def _register(ctx: IdentityContext) -> Account:
    ctx.verifier = AcceptAll(phone="0912000001")  # the contact on file
    await service.register_citizen(
        ctx, id_number=AN, full_name="Nguyễn Văn An", birth_date=BIRTH, sex="M", password=PASSWORD
    )
    async with ctx.db.uow(readonly=True) as uow:
        account = await uow.session.scalar(select(Account).where(Account.id_number == AN))
    assert account is not None
    return account


async def _sent_code(db: Database, account: Account) -> str:
    async with db.uow(readonly=True) as uow:
        query = select(OutboxMessage).where(OutboxMessage.topic == "notify.send")
        rows = list(await uow.session.scalars(query))
    codes = [str(m.payload["params"]["code"]) for m in rows if m.payload["account_id"] == str(account.id)]
    assert len(codes) == 1, codes
    return codes[0]


def _field_message(error: ValidationFailed) -> dict[str, str]:
    return {str(e.loc[-1]): e.message for e in error.errors}


async def test_an_expired_activation_code_is_refused_translated_and_audited(
    id_ctx: IdentityContext, id_clock: FrozenClock, db: Database
) -> None:
    account = await _register(id_ctx)
    code = await _sent_code(db, account)
    id_clock.advance(id_ctx.policy.code_ttl)
    with pytest.raises(ValidationFailed) as refused:
        await service.activate(id_ctx, id_number=AN, code=code, password=PASSWORD)
    assert _field_message(refused.value) == {"code": WRONG_CODE}
    assert translations("vi").gettext(WRONG_CODE) != WRONG_CODE
    assert (await reload(db, account.id)).status == "pending"
    [failure] = await audit_rows(db, "identity.activation_failed", object_id=str(account.id))
    assert failure.actor == "anonymous"
    assert code not in str(failure.details)


async def test_a_replayed_activation_code_is_refused_and_audited(
    id_ctx: IdentityContext, db: Database
) -> None:
    account = await _register(id_ctx)
    code = await _sent_code(db, account)
    await service.activate(id_ctx, id_number=AN, code=code, password=PASSWORD)
    with pytest.raises(ValidationFailed) as refused:
        await service.activate(id_ctx, id_number=AN, code=code, password=PASSWORD)
    assert _field_message(refused.value) == {"code": WRONG_CODE}
    assert len(await audit_rows(db, "identity.activated", object_id=str(account.id))) == 1
    assert len(await audit_rows(db, "identity.activation_failed", object_id=str(account.id))) == 1


def _readme_rows() -> list[str]:
    return [line for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("|")]


def test_the_readme_lists_every_demo_login_with_its_password_and_totp_seed() -> None:
    rows = _readme_rows()

    def row_of(login: str) -> str:
        found = [r for r in rows if f"`{login}`" in r]
        assert len(found) == 1, f"README has {len(found)} table rows for the demo log-in {login}"
        return found[0]

    for id_number, name, _born, _sex, seed, _phone in demo.CITIZENS:
        row = row_of(id_number)
        assert name in row and f"`{demo.CITIZEN_PASSWORD}`" in row
        assert (f"`{seed}`" in row) if seed else ("—" in row), row
    for username, _name, _agency, role, _unit, seed in [*demo.OFFICIALS, demo.OPERATOR]:
        row = row_of(username)
        password = demo.OPERATOR_PASSWORD if role == "operator" else demo.OFFICIAL_PASSWORD
        assert f"`{password}`" in row and f"`{seed}`" in row, row
    # The child under 14 is named under the parent, who logs in for them.
    assert demo.CHILD[1] in row_of(demo.CITIZENS[0][0])


def test_the_readme_names_the_demo_relying_party() -> None:
    text = README.read_text(encoding="utf-8")
    for value in (demo.RP_CLIENT_ID, demo.RP_SECRET, demo.RP_REDIRECT):
        assert re.search(rf"`{re.escape(value)}`", text), f"README does not give {value}"
