"""Self-registration against the real population registry, on both databases (issue 12, defect 1): the
activation code goes only to the contact the registry holds, or is printed in person by a one-stop
officer; the answer is the same whatever the registry says; attempts are limited per ID number and per
address, and audited without personal data."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import date
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient, Response
from idkit import OFFICIAL_PASSWORD, PASSWORD, TOTP_SEED, audit_rows, code_at, count, reload
from sqlalchemy import select

import dgov.registries  # noqa: F401 - plugs the population registry's check into identity
from dgov.identity import demo as identity_demo
from dgov.identity import login as login_uc
from dgov.identity import recovery, service
from dgov.identity.authz import Principal, RoleGrant
from dgov.identity.context import IdentityContext, node_context
from dgov.identity.models import Account, OneTimeCode
from dgov.kernel.clock import FrozenClock
from dgov.kernel.config import Settings
from dgov.kernel.errors import Forbidden, TooManyRequests, Unauthenticated, ValidationFailed
from dgov.kernel.models import AuditRecord, OutboxMessage
from dgov.kernel.uow import Database
from dgov.registries import RegistriesContext, demo
from dgov.registries import service as registries
from dgov.web.app import create_app
from dgov.web.runtime import Runtime

WRITER = Principal(kind="operator", level=2)
HOA = "001195004321"
NAM = "001090054321"
ON_FILE = "0987654567"
TYPED_BY_STRANGER = "0900000666"


def person(id_number: str, name: str, born: str, sex: str, **contacts: str) -> dict[str, Any]:
    surname, middle, given = name.split()
    return {
        "id_number": id_number,
        "surname": surname,
        "middle_name": middle,
        "given_name": given,
        "full_name": name,
        "birth_date": born,
        "sex": sex,
        "nationality": "VN",
        "status": "alive",
        "permanent_address": {"commune_code": "00004", "province_code": "01"},
        **contacts,
    }


@pytest.fixture
async def reg_ctx(db: Database, id_clock: FrozenClock) -> IdentityContext:
    """The node's own identity context (the population registry's verifier), with two people on file:
    Hoa with a phone, Nam with no contact at all."""
    rctx = RegistriesContext(db)
    await registries.create(
        rctx, WRITER, "population", person(HOA, "Phạm Thị Hoa", "1995-04-02", "F", phone=ON_FILE)
    )
    await registries.create(rctx, WRITER, "population", person(NAM, "Trần Văn Nam", "1990-01-01", "M"))
    return node_context(db, secret="test-secret", issuer="http://testserver")


async def register(ctx: IdentityContext, ip: str | None = "203.0.113.5", **overrides: Any) -> None:
    fields: dict[str, Any] = {
        "id_number": HOA,
        "full_name": "pham thi HOA",
        "birth_date": date(1995, 4, 2),
        "sex": "F",
        "password": PASSWORD,
    }
    await service.register_citizen(ctx, ip=ip, **(fields | overrides))


async def sent(db: Database) -> list[dict[str, Any]]:
    async with db.uow(readonly=True) as uow:
        rows = await uow.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.topic == "notify.send")
            .order_by(OutboxMessage.created_at)
        )
        return [m.payload for m in rows]


async def account(db: Database, id_number: str) -> Account | None:
    async with db.uow(readonly=True) as uow:
        return await uow.session.scalar(select(Account).where(Account.id_number == id_number))


# --- the code goes only where the state reaches the person -----------------------------------------


async def test_a_strangers_registration_sends_the_code_to_the_registry_contact_only(
    reg_ctx: IdentityContext, db: Database
) -> None:
    """Card details alone (what a stranger may know) no longer own the account: whatever contact the
    registrant has in mind, the code goes to the phone on file."""
    await register(reg_ctx, password="stranger-password-2026")
    [message] = await sent(db)
    assert message["to"] == ON_FILE and message["channel"] == "sms"
    assert TYPED_BY_STRANGER not in str(await sent(db))
    pending = await account(db, HOA)
    assert pending is not None and pending.status == "pending" and pending.phone == ON_FILE
    # The stranger, lacking the code, cannot activate; the person registers and activates with theirs.
    with pytest.raises(ValidationFailed):
        await service.activate(reg_ctx, id_number=HOA, code="000000", password="stranger-password-2026")
    await register(reg_ctx)
    code = (await sent(db))[-1]["params"]["code"]
    with pytest.raises(ValidationFailed):  # the code does not open the stranger's password
        await service.activate(reg_ctx, id_number=HOA, code=code, password="stranger-password-2026")
    await service.activate(reg_ctx, id_number=HOA, code=code, password=PASSWORD)
    assert (await reload(db, pending.id)).status == "active"


async def test_the_page_ignores_a_typed_contact(
    reg_ctx: IdentityContext, runtime: Runtime, settings: Settings, db: Database
) -> None:
    runtime.extras["identity"] = reg_ctx
    async with _client(settings, runtime) as client:
        r = await _post(client, "/register", {**FORM, "phone": TYPED_BY_STRANGER, "email": "x@evil.example"})
    assert r.status_code == 303
    assert [m["to"] for m in await sent(db)] == [ON_FILE]


# --- the same answer whatever the registry says ----------------------------------------------------

FORM = {
    "id_number": HOA,
    "full_name": "Phạm Thị Hoa",
    "birth_date": "1995-04-02",
    "sex": "F",
    "password": PASSWORD,
    "password_confirm": PASSWORD,
}


def _client(settings: Settings, runtime: Runtime, ip: str = "203.0.113.5") -> AsyncClient:
    app = create_app(settings, runtime=runtime)
    return AsyncClient(transport=ASGITransport(app=app, client=(ip, 50000)), base_url="http://testserver")


async def _post(client: AsyncClient, path: str, data: dict[str, str]) -> Response:
    if "csrftoken" not in client.cookies:
        await client.get("/register")
    return await client.post(path, data={**data, "csrftoken": client.cookies["csrftoken"]})


def _shape(r: Response) -> tuple[int, str | None, bytes]:
    return r.status_code, r.headers.get("location"), r.content


async def test_matching_non_matching_and_existing_account_details_answer_alike(
    reg_ctx: IdentityContext, runtime: Runtime, settings: Settings, db: Database
) -> None:
    runtime.extras["identity"] = reg_ctx
    # An existing account for Nam (made by the node's own tools), so that one case is "already there".
    nam = {**FORM, "id_number": NAM, "full_name": "Trần Văn Nam", "birth_date": "1990-01-01", "sex": "M"}
    await service.add_citizen(
        reg_ctx,
        Principal(kind="system"),
        id_number=NAM,
        full_name="Trần Văn Nam",
        birth_date=date(1990, 1, 1),
        sex="M",
        password=PASSWORD,
    )
    answers = {}
    async with _client(settings, runtime) as client:
        answers["wrong birth date"] = await _post(client, "/register", {**FORM, "birth_date": "1995-04-03"})
        answers["no such person"] = await _post(
            client, "/register", {**FORM, "id_number": "001195009999", "full_name": "Ai Đó Khác"}
        )
        answers["existing account"] = await _post(client, "/register", nam)
        answers["match"] = await _post(client, "/register", FORM)
    shapes = {k: _shape(r) for k, r in answers.items()}
    assert {s[0] for s in shapes.values()} == {303}
    assert {s[2] for s in shapes.values()} == {b""}
    # The address names only the number that was typed, the same way for all.
    assert shapes["match"][1] == shapes["wrong birth date"][1] == f"/activate?id_number={HOA}"
    assert shapes["existing account"][1] == f"/activate?id_number={NAM}"
    assert [m["to"] for m in await sent(db)] == [ON_FILE]  # only the match sent anything
    outcomes = [r.details["outcome"] for r in await audit_rows(db, "identity.registration_requested")]
    assert outcomes == ["no_match", "no_match", "account_exists", "code_sent"]
    nam_account = await account(db, NAM)
    assert nam_account is not None and nam_account.status == "active"


async def test_each_attempt_is_audited_without_personal_data(
    reg_ctx: IdentityContext, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="dgov"):
        await register(reg_ctx, birth_date=date(1995, 4, 3))
        await register(reg_ctx)
    async with db.uow(readonly=True) as uow:
        rows = list(
            await uow.session.scalars(select(AuditRecord).where(AuditRecord.action.like("identity.%")))
        )
    text = str([(r.actor, r.action, r.object_id, r.details) for r in rows])
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records if r.name.startswith("dgov"))
    for personal in (HOA, "Phạm Thị Hoa", "pham thi HOA", "1995-04", ON_FILE, PASSWORD):
        assert personal not in text
        assert personal not in logged
    assert len(await audit_rows(db, "identity.registration_requested")) == 2


# --- throttling ------------------------------------------------------------------------------------


async def test_attempts_per_id_number_are_limited_across_addresses(
    reg_ctx: IdentityContext, db: Database
) -> None:
    """Guessing a birth date from many addresses meets the same per-number limit, counted whatever the
    registry said (so the limit reveals nothing either)."""
    for i in range(recovery.REGISTER_PER_ID):
        await register(reg_ctx, ip=f"198.51.100.{i + 1}", birth_date=date(1995, 4, 3 + i))
    with pytest.raises(TooManyRequests):
        await register(reg_ctx, ip="192.0.2.200")  # the right details, from a fresh address
    assert await sent(db) == []
    assert await account(db, HOA) is None
    # Another number from that address is not affected.
    await register(
        reg_ctx,
        ip="192.0.2.200",
        id_number=NAM,
        full_name="Trần Văn Nam",
        birth_date=date(1990, 1, 1),
        sex="M",
    )
    throttled = [
        r
        for r in await audit_rows(db, "identity.registration_requested")
        if r.details["outcome"] == "throttled"
    ]
    assert len(throttled) == 1


async def test_attempts_per_address_are_limited_across_id_numbers(
    reg_ctx: IdentityContext, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recovery, "REGISTER_PER_ADDRESS", 3)  # the limit, smaller for the test
    for serial in ("000001", "000002", "000003"):
        await register(reg_ctx, id_number=f"001195{serial}")
    with pytest.raises(TooManyRequests):
        await register(reg_ctx)
    await register(reg_ctx, ip="198.51.100.99")  # another address may
    assert [m["to"] for m in await sent(db)] == [ON_FILE]


# --- the in-person code ----------------------------------------------------------------------------

OFFICER = Principal(
    kind="official",
    account_id=uuid.uuid4(),
    level=2,
    roles=(RoleGrant("UBND-00004", "one_stop_officer", "00004"),),
)


async def issue(ctx: IdentityContext, actor: Principal = OFFICER) -> service.InPersonCode:
    return await service.issue_in_person_code(
        ctx, actor, id_number=NAM, full_name="Trần Văn Nam", birth_date=date(1990, 1, 1), sex="M"
    )


async def test_with_no_contact_on_file_a_one_stop_officer_prints_the_code(
    reg_ctx: IdentityContext, db: Database
) -> None:
    await register(reg_ctx, id_number=NAM, full_name="Trần Văn Nam", birth_date=date(1990, 1, 1), sex="M")
    assert await sent(db) == []  # nowhere to send to: nothing sent
    [attempt] = await audit_rows(db, "identity.registration_requested")
    assert attempt.details == {"outcome": "in_person_needed"}
    issued = await issue(reg_ctx)
    assert len(issued.code) == 8 and issued.phone is None and issued.email is None
    pending = await account(db, NAM)
    assert pending is not None and pending.status == "pending"
    [record] = await audit_rows(db, "identity.in_person_code_issued", object_id=str(pending.id))
    assert record.actor == OFFICER.ref and issued.code not in str(record.details)
    async with db.uow(readonly=True) as uow:
        [row] = list(await uow.session.scalars(select(OneTimeCode).where(OneTimeCode.purpose == "in_person")))
    assert row.code_hash == service.code_hash(issued.code)
    with pytest.raises(ValidationFailed):
        await service.activate(reg_ctx, id_number=NAM, code=issued.code, password="not-the-one-chosen-2026")
    await service.activate(reg_ctx, id_number=NAM, code=f" {issued.code} ", password=PASSWORD)
    assert (await reload(db, pending.id)).status == "active"
    with pytest.raises(ValidationFailed):  # once only
        await service.activate(reg_ctx, id_number=NAM, code=issued.code, password=PASSWORD)


async def test_the_masked_contact_is_shown_to_the_officer(reg_ctx: IdentityContext) -> None:
    issued = await service.issue_in_person_code(
        reg_ctx, OFFICER, id_number=HOA, full_name="Phạm Thị Hoa", birth_date=date(1995, 4, 2), sex="F"
    )
    assert issued.phone == "09••••567"


@pytest.mark.parametrize(
    "actor",
    [
        Principal(kind="anonymous"),
        Principal(kind="citizen", account_id=uuid.uuid4(), level=2),
        Principal(
            kind="official",
            account_id=uuid.uuid4(),
            level=2,
            roles=(RoleGrant("BTP", "civil_status_officer", "00004"),),
        ),
        Principal(
            kind="official",
            account_id=uuid.uuid4(),
            level=1,
            roles=(RoleGrant("UBND-00004", "one_stop_officer", "00004"),),
        ),
    ],
)
async def test_only_a_one_stop_officer_at_level_2_issues_codes(
    reg_ctx: IdentityContext, db: Database, actor: Principal
) -> None:
    with pytest.raises((Forbidden, Unauthenticated)):
        await issue(reg_ctx, actor)
    assert await count(db, OneTimeCode) == 0
    assert await count(db, Account) == 0


async def test_the_officers_page_needs_a_level_2_login(
    reg_ctx: IdentityContext, runtime: Runtime, settings: Settings
) -> None:
    runtime.extras["identity"] = reg_ctx
    async with _client(settings, runtime) as client:
        r = await client.get("/can-bo/ma-kich-hoat")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?")
    assert "level=2" in r.headers["location"]


async def test_logging_in_to_a_pending_registration_confirms_nothing(
    reg_ctx: IdentityContext, db: Database
) -> None:
    """Whoever registered with guessed details and logs in with the password they chose learns nothing
    about whether the guess matched: a pending account answers like a wrong password."""

    await register(reg_ctx, password="stranger-password-2026")
    await register(  # a wrong guess: no account
        reg_ctx,
        id_number=NAM,
        full_name="Sai Tên Khác",
        birth_date=date(1990, 1, 1),
        sex="M",
        password="stranger-password-2026",
    )
    refusals = []
    for number in (HOA, NAM):
        with pytest.raises(login_uc.LoginFailed) as refused:
            await login_uc.password_step(
                reg_ctx,
                identifier=number,
                password="stranger-password-2026",
                ip="203.0.113.5",
                user_agent="t",
            )
        refusals.append(refused.value.detail)
    assert refusals[0] == refusals[1] == "The ID number or password is not correct"


def test_the_demo_citizens_have_contacts_on_file() -> None:
    """The README's people (and the browser test's Phạm Thị Mai) can register: the registry reaches them."""

    people = {p["id_number"]: p for p in demo.family_records()["population"]}
    for id_number, *_rest, phone in identity_demo.CITIZENS:
        assert people[id_number]["phone"] == phone
    assert people[demo.MAI]["email"] == "pham.thi.mai@example.org"
    assert "phone" not in people[demo.KHANG]  # a child of 9


async def test_a_one_stop_officer_prints_a_code_on_the_page(
    reg_ctx: IdentityContext,
    runtime: Runtime,
    settings: Settings,
    db: Database,
    make_official: Any,
    id_clock: FrozenClock,
) -> None:

    runtime.extras["identity"] = reg_ctx
    await make_official("motcua.badinh", role="one_stop_officer", agency="UBND-00004", totp=TOTP_SEED)
    async with _client(settings, runtime) as client:
        await _post(client, "/login", {"username": "motcua.badinh", "password": OFFICIAL_PASSWORD})
        await _post(client, "/login/second-factor", {"code": code_at(TOTP_SEED, id_clock.now()), "next": "/"})
        form = {"id_number": NAM, "full_name": "Trần Văn Nam", "birth_date": "1990-01-01", "sex": "M"}
        r = await _post(client, "/can-bo/ma-kich-hoat", form)
        wrong = await _post(client, "/can-bo/ma-kich-hoat", {**form, "full_name": "Trần Văn Nem"})
    assert r.status_code == 200
    found = re.search(r"<strong>(\d{8})</strong>", r.text)
    assert found is not None
    pending = await account(db, NAM)
    assert pending is not None
    async with db.uow(readonly=True) as uow:
        row = await uow.session.scalar(select(OneTimeCode).where(OneTimeCode.account_id == pending.id))
    assert row is not None and row.code_hash == service.code_hash(found.group(1))
    assert wrong.status_code == 422 and not re.search(r"<strong>\d{8}</strong>", wrong.text)
