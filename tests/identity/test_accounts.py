"""Accounts on both databases: citizens created by an operator or registering themselves, activation and
password-reset codes delivered through the outbox to the notify domain, children under 14 linked under a
parent, officials, and the second factor's enrolment."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from idkit import (
    OFFICIAL_PASSWORD,
    OTHER_PASSWORD,
    PASSWORD,
    T0,
    TOTP_SEED,
    audit_rows,
    code_at,
    count,
    id_number_for,
    reload,
)
from sqlalchemy import select

import dgov.notify.events  # noqa: F401 - subscribes notify's consumer to `notify.send`
from dgov.identity import connections, demo, passwords, service, sessions
from dgov.identity import login as login_uc
from dgov.identity.authz import ANONYMOUS, SYSTEM, Principal, RoleGrant
from dgov.identity.context import AcceptAll, IdentityContext
from dgov.identity.models import (
    Account,
    Consent,
    LoginSession,
    OAuthClient,
    OAuthToken,
    OfficialRole,
    OneTimeCode,
)
from dgov.kernel import clock
from dgov.kernel.clock import FrozenClock
from dgov.kernel.errors import Conflict, DomainError, Forbidden, NotFound, Unauthenticated, ValidationFailed
from dgov.kernel.models import OutboxMessage
from dgov.kernel.outbox import Dispatcher
from dgov.notify.models import Notification

BIRTH = date(1990, 3, 15)
AN = id_number_for(BIRTH, "M")  # 001090012345
WRONG_ACTIVATION = "The code or the password is not correct, or the code has expired"
OPERATOR_L2 = Principal(kind="operator", account_id=uuid.uuid4(), level=2)


def field_messages(exc: DomainError) -> dict[str, str]:
    return {str(e.loc[-1]): e.message for e in exc.errors}


async def outbox(ictx: IdentityContext, topic: str = "notify.send") -> list[OutboxMessage]:
    async with ictx.db.uow(readonly=True) as uow:
        rows = await uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.topic == topic).order_by(OutboxMessage.created_at)
        )
        return list(rows)


async def register(
    ictx: IdentityContext, *, phone: str | None = "0912000001", email: str | None = None, **overrides: Any
) -> Account:
    """Self-registration of a person whose contacts on file are `phone` and `email` (the population
    registry's part is played by AcceptAll here; tests/identity/test_registration.py uses the real one)."""
    ictx.verifier = AcceptAll(phone=phone, email=email)
    args: dict[str, Any] = {
        "id_number": AN,
        "full_name": "Nguyễn Văn An",
        "birth_date": BIRTH,
        "sex": "M",
        "password": PASSWORD,
    }
    await service.register_citizen(ictx, **(args | overrides))
    async with ictx.db.uow(readonly=True) as uow:
        account = await uow.session.scalar(select(Account).where(Account.id_number == args["id_number"]))
    assert account is not None
    return account


async def activate(ictx: IdentityContext, code: str, password: str = PASSWORD) -> None:
    await service.activate(ictx, id_number=AN, code=code, password=password)


async def sent_code(ictx: IdentityContext, account_id: uuid.UUID, template: str) -> str:
    """The code in the newest `notify.send` event for this account (what the SMS would carry)."""
    events = [
        m.payload
        for m in await outbox(ictx)
        if m.payload["account_id"] == str(account_id) and m.payload["template"] == template
    ]
    assert events, f"no {template} message for {account_id}"
    code = str(events[-1]["params"]["code"])
    assert re.fullmatch(r"\d{6}", code)
    return code


async def log_in(ictx: IdentityContext, id_number: str, password: str) -> login_uc.LoginStep:
    return await login_uc.password_step(
        ictx, identifier=id_number, password=password, ip="198.51.100.7", user_agent="pytest"
    )


# --- add_citizen -----------------------------------------------------------------------------------


async def test_an_operator_creates_an_active_citizen_with_hashed_password_and_sealed_seed(
    id_ctx: IdentityContext, db: Any
) -> None:
    account = await service.add_citizen(
        id_ctx,
        OPERATOR_L2,
        id_number=f" {AN} ",
        full_name=" Nguyễn Văn An ",
        birth_date=BIRTH,
        sex="M",
        password=PASSWORD,
        totp_secret=TOTP_SEED,
        phone="0912 000 001",
    )
    stored = await reload(db, account.id)
    assert (stored.kind, stored.status, stored.id_number, stored.full_name) == (
        "citizen",
        "active",
        AN,
        "Nguyễn Văn An",
    )
    assert stored.phone == "0912000001"
    assert stored.password_hash and stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash
    assert passwords.verify_password(stored.password_hash, PASSWORD)
    assert stored.totp_secret and TOTP_SEED not in stored.totp_secret
    assert id_ctx.box(service.TOTP_PURPOSE).open(stored.totp_secret) == TOTP_SEED
    [record] = await audit_rows(db, "identity.citizen_created", object_id=str(account.id))
    assert record.actor == OPERATOR_L2.ref
    assert record.details["second_factor"] is True


@pytest.mark.parametrize(
    ("id_number", "message"),
    [
        ("00109001234", "A personal identification number has exactly 12 digits"),
        ("003090012345", "The first three digits are not a known province or country code"),
        ("001190012345", "The sex digit in the number does not match the recorded sex"),
        ("001091012345", "The century digit and birth year in the number do not match the birth date"),
    ],
)
async def test_a_bad_id_number_is_a_field_error_on_id_number(
    id_ctx: IdentityContext, db: Any, id_number: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as info:
        await service.add_citizen(
            id_ctx,
            SYSTEM,
            id_number=id_number,
            full_name="Nguyễn Văn An",
            birth_date=BIRTH,
            sex="M",
            password=PASSWORD,
        )
    assert field_messages(info.value) == {"id_number": message}
    assert await count(db, Account) == 0


async def test_other_bad_fields_are_reported_together(id_ctx: IdentityContext, id_clock: FrozenClock) -> None:
    with pytest.raises(ValidationFailed) as info:
        await service.add_citizen(
            id_ctx,
            SYSTEM,
            id_number=AN,
            full_name="   ",
            birth_date=id_clock.now().date() + timedelta(days=1),
            sex="X",
            password=PASSWORD,
            phone="call me",
            email="not-an-address",
        )
    assert set(field_messages(info.value)) == {
        "sex",
        "full_name",
        "birth_date",
        "id_number",
        "phone",
        "email",
    }


async def test_values_longer_than_their_columns_are_field_errors_not_database_errors(
    id_ctx: IdentityContext,
) -> None:
    with pytest.raises(ValidationFailed) as info:
        await service.add_citizen(
            id_ctx,
            SYSTEM,
            id_number=AN,
            full_name="Nguyễn " * 40,
            birth_date=BIRTH,
            sex="M",
            password=PASSWORD,
            phone="0" * 21,
            email="a@" + "b" * 200,
        )
    assert set(field_messages(info.value)) == {"full_name", "phone", "email"}


async def test_a_second_account_for_the_same_number_is_a_conflict(
    make_citizen: Any, id_ctx: IdentityContext, db: Any
) -> None:
    await make_citizen()
    with pytest.raises(Conflict):
        await make_citizen(full_name="Nguyễn Văn Ân")
    assert await count(db, Account) == 1


@pytest.mark.parametrize(
    "password",
    ["short", "password123", "qwertyuiop123", "1234567890", "aaaaaaaaaaaa", "iloveyou2024"],
)
async def test_weak_or_common_passwords_are_refused(id_ctx: IdentityContext, db: Any, password: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        await service.add_citizen(
            id_ctx,
            SYSTEM,
            id_number=AN,
            full_name="Nguyễn Văn An",
            birth_date=BIRTH,
            sex="M",
            password=password,
        )
    assert list(field_messages(info.value)) == ["password"]
    assert await count(db, Account) == 0


@pytest.mark.parametrize(
    "password",
    [
        AN,
        "Nguyễn Văn An",
        "nguyễnvănan",
        "nguyenvanan1990",  # the name as people type it, without diacritics, and the birth year
        "Nguyen Van An 1990",
        "NguyenVanAn-001090012345",
        "an.nguyen.15031990",
        "vanan.nguyen.1990",
    ],
)
async def test_the_persons_own_name_id_number_or_birth_date_is_refused(
    id_ctx: IdentityContext, password: str
) -> None:
    with pytest.raises(ValidationFailed) as info:
        await service.add_citizen(
            id_ctx,
            SYSTEM,
            id_number=AN,
            full_name="Nguyễn Văn An",
            birth_date=BIRTH,
            sex="M",
            password=password,
        )
    assert list(field_messages(info.value)) == ["password"]


async def test_the_same_words_are_fine_for_someone_else(id_ctx: IdentityContext) -> None:
    account = await service.add_citizen(
        id_ctx,
        SYSTEM,
        id_number=id_number_for(date(1985, 11, 2), "M", "079", "001234"),
        full_name="Lê Văn Cường",
        birth_date=date(1985, 11, 2),
        sex="M",
        password="an.nguyen-song-o-hue-1990",
    )
    assert account.status == "active"


async def test_a_short_totp_seed_is_refused(id_ctx: IdentityContext) -> None:
    with pytest.raises(ValidationFailed) as info:
        await service.add_citizen(
            id_ctx,
            SYSTEM,
            id_number=AN,
            full_name="Nguyễn Văn An",
            birth_date=BIRTH,
            sex="M",
            password=PASSWORD,
            totp_secret="JBSWY3DP",
        )
    assert list(field_messages(info.value)) == ["totp_secret"]


@pytest.mark.parametrize(
    ("actor", "error"),
    [
        (ANONYMOUS, Unauthenticated),
        (Principal(kind="citizen", account_id=uuid.uuid4(), level=2), Forbidden),
        (Principal(kind="operator", account_id=uuid.uuid4(), level=1), Forbidden),
    ],
)
async def test_only_an_operator_at_level_2_creates_citizens(
    id_ctx: IdentityContext, db: Any, actor: Principal, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await service.add_citizen(
            id_ctx,
            actor,
            id_number=AN,
            full_name="Nguyễn Văn An",
            birth_date=BIRTH,
            sex="M",
            password=PASSWORD,
        )
    assert await count(db, Account) == 0


async def test_the_population_registry_must_know_the_person(id_ctx: IdentityContext, db: Any) -> None:
    class Nobody:
        async def verify(self, **_: object) -> bool:
            return False

        async def on_file(self, **_: object) -> None:
            return None

    id_ctx.verifier = Nobody()
    # Not refused (that would tell a stranger the details are wrong): nothing is created or sent.
    await service.register_citizen(
        id_ctx, id_number=AN, full_name="Nguyễn Văn An", birth_date=BIRTH, sex="M", password=PASSWORD
    )
    assert await count(db, Account) == 0
    assert await outbox(id_ctx) == []
    [attempt] = await audit_rows(db, "identity.registration_requested")
    assert attempt.details == {"outcome": "no_match"} and attempt.object_id == "unknown"


# --- registration and activation -------------------------------------------------------------------


async def test_registration_leaves_a_pending_account_and_sends_a_code_through_the_outbox(
    id_ctx: IdentityContext, db: Any
) -> None:
    account = await register(id_ctx)
    assert (await reload(db, account.id)).status == "pending"
    [event] = await outbox(id_ctx)
    assert event.status == "pending"
    assert event.payload["channel"] == "sms"
    assert event.payload["to"] == "0912000001"
    assert event.payload["template"] == "identity.activate"
    assert event.payload["account_id"] == str(account.id)
    code = event.payload["params"]["code"]
    assert re.fullmatch(r"\d{6}", code)
    # Only a hash of the code is kept with the account.
    async with db.uow(readonly=True) as uow:
        [row] = list(await uow.session.scalars(select(OneTimeCode)))
    assert row.code_hash == service.code_hash(code) and code not in row.code_hash
    [attempt] = await audit_rows(db, "identity.registration_requested", object_id=str(account.id))
    assert attempt.details == {"outcome": "code_sent"}


async def test_the_dispatcher_delivers_the_code_into_the_notify_domain(
    id_ctx: IdentityContext, db: Any
) -> None:
    account = await register(id_ctx, phone=None, email="an@example.vn")
    code = await sent_code(id_ctx, account.id, "identity.activate")
    assert await Dispatcher(db).run_once() == 1
    async with db.uow(readonly=True) as uow:
        [message] = list(await uow.session.scalars(select(Notification)))
    assert (message.channel, message.recipient, message.account_id) == (
        "email",
        "an@example.vn",
        str(account.id),
    )
    assert message.status == "sent" and message.template == "identity.activate"
    assert code in message.body and "Nguyễn Văn An" in message.body
    [event] = await outbox(id_ctx)
    assert event.status == "delivered"
    # At least once, but stored once: a second run finds nothing to do.
    assert await Dispatcher(db).run_once() == 0
    assert await count(db, Notification) == 1


async def test_the_right_code_activates_and_the_account_can_log_in(id_ctx: IdentityContext, db: Any) -> None:
    account = await register(id_ctx)
    with pytest.raises(login_uc.LoginFailed) as before:
        await log_in(id_ctx, AN, PASSWORD)
    # The same refusal as a wrong password: a pending account exists only for details matching the
    # registry, and saying "not activated yet" would confirm a stranger's guess.
    assert before.value.detail == "The ID number or password is not correct"
    await activate(id_ctx, await sent_code(id_ctx, account.id, "identity.activate"))
    assert (await reload(db, account.id)).status == "active"
    assert (await log_in(id_ctx, AN, PASSWORD)).token


async def test_a_wrong_code_counts_and_five_wrong_codes_exhaust_it(id_ctx: IdentityContext, db: Any) -> None:
    account = await register(id_ctx)
    code = await sent_code(id_ctx, account.id, "identity.activate")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for attempt in range(1, 6):
        with pytest.raises(ValidationFailed) as info:
            await activate(id_ctx, wrong)
        assert field_messages(info.value) == {"code": WRONG_ACTIVATION}
        async with db.uow(readonly=True) as uow:
            assert (await uow.session.scalar(select(OneTimeCode.attempts))) == attempt
    with pytest.raises(ValidationFailed):
        await activate(id_ctx, code)  # the right one, too late
    assert (await reload(db, account.id)).status == "pending"
    assert len(await audit_rows(db, "identity.activation_failed", object_id=str(account.id))) == 6


async def test_an_expired_code_fails(id_ctx: IdentityContext, id_clock: FrozenClock, db: Any) -> None:
    account = await register(id_ctx)
    code = await sent_code(id_ctx, account.id, "identity.activate")
    id_clock.advance(id_ctx.policy.code_ttl)
    with pytest.raises(ValidationFailed):
        await activate(id_ctx, code)
    assert (await reload(db, account.id)).status == "pending"


async def test_a_code_just_before_expiry_still_works(id_ctx: IdentityContext, id_clock: FrozenClock) -> None:
    account = await register(id_ctx)
    code = await sent_code(id_ctx, account.id, "identity.activate")
    id_clock.advance(id_ctx.policy.code_ttl - timedelta(seconds=1))
    await activate(id_ctx, code)


async def test_a_used_code_cannot_be_replayed(id_ctx: IdentityContext, db: Any) -> None:
    account = await register(id_ctx)
    code = await sent_code(id_ctx, account.id, "identity.activate")
    await activate(id_ctx, code)
    with pytest.raises(ValidationFailed):
        await activate(id_ctx, code)
    async with db.uow(readonly=True) as uow:
        [row] = list(await uow.session.scalars(select(OneTimeCode)))
    assert row.used_at is not None


async def test_activation_of_an_unknown_number_fails_the_same_way(id_ctx: IdentityContext) -> None:
    with pytest.raises(ValidationFailed) as info:
        await activate(id_ctx, "123456")
    assert field_messages(info.value) == {"code": WRONG_ACTIVATION}


async def test_registering_again_while_a_code_is_live_replaces_the_pending_registration(
    id_ctx: IdentityContext, db: Any
) -> None:
    """A pending registration, whoever made it, never blocks the next one: the new password replaces
    it and a new code goes to the same contact on file; the earlier code no longer works."""
    first = await register(id_ctx, password="stranger-chose-this-one")
    old_code = await sent_code(id_ctx, first.id, "identity.activate")
    again = await register(id_ctx)
    assert again.id == first.id
    new_code = await sent_code(id_ctx, first.id, "identity.activate")
    assert [m.payload["to"] for m in await outbox(id_ctx)] == ["0912000001", "0912000001"]
    if new_code != old_code:
        with pytest.raises(ValidationFailed):
            await activate(id_ctx, old_code)
    with pytest.raises(ValidationFailed):  # the first registrant's password does not open it
        await activate(id_ctx, new_code, "stranger-chose-this-one")
    await activate(id_ctx, new_code)
    assert (await reload(db, first.id)).status == "active"


async def test_a_pending_account_whose_code_lapsed_can_register_again(
    id_ctx: IdentityContext, id_clock: FrozenClock, db: Any
) -> None:
    first = await register(id_ctx)
    old_code = await sent_code(id_ctx, first.id, "identity.activate")
    id_clock.advance(id_ctx.policy.code_ttl)
    again = await register(id_ctx, phone="0912999999")
    assert again.id == first.id
    new_code = await sent_code(id_ctx, first.id, "identity.activate")
    assert (await outbox(id_ctx))[-1].payload["to"] == "0912999999"
    if new_code != old_code:
        with pytest.raises(ValidationFailed):
            await activate(id_ctx, old_code)
    await activate(id_ctx, new_code)
    assert (await reload(db, first.id)).status == "active"
    before = len(await outbox(id_ctx))
    await register(id_ctx, password="someone-else-entirely-2026")  # an active account: nothing happens
    assert len(await outbox(id_ctx)) == before
    assert passwords.verify_password((await reload(db, first.id)).password_hash, PASSWORD)


async def test_registration_needs_an_age_of_14(id_ctx: IdentityContext) -> None:
    with pytest.raises(ValidationFailed) as info:
        await register(
            id_ctx,
            id_number=id_number_for(date(2013, 1, 1), "F"),
            birth_date=date(2013, 1, 1),
            sex="F",
            phone=None,
            email=None,
        )
    assert set(field_messages(info.value)) == {"birth_date"}


# --- password reset --------------------------------------------------------------------------------


async def test_a_reset_request_for_an_unknown_number_looks_the_same_and_sends_nothing(
    id_ctx: IdentityContext, db: Any
) -> None:
    assert await service.request_password_reset(id_ctx, id_number="079085001234") is None
    assert await outbox(id_ctx) == []
    assert await count(db, OneTimeCode) == 0


async def test_a_reset_request_for_a_pending_account_sends_nothing(id_ctx: IdentityContext) -> None:
    await register(id_ctx)
    before = len(await outbox(id_ctx))
    assert await service.request_password_reset(id_ctx, id_number=AN) is None
    assert len(await outbox(id_ctx)) == before


async def test_a_reset_changes_the_password_and_ends_every_session(
    make_citizen: Any, id_ctx: IdentityContext, db: Any
) -> None:
    account = await make_citizen()
    tokens = [(await log_in(id_ctx, AN, PASSWORD)).token for _ in range(2)]
    assert all([await sessions.resolve(id_ctx, t) for t in tokens])
    await service.request_password_reset(id_ctx, id_number=AN)
    code = await sent_code(id_ctx, account.id, "identity.reset")
    await service.reset_password(id_ctx, id_number=AN, code=code, new_password=OTHER_PASSWORD)
    for t in tokens:
        assert await sessions.resolve(id_ctx, t) is None
    assert await count(db, LoginSession, LoginSession.revoked_at.is_(None)) == 0
    with pytest.raises(login_uc.LoginFailed):
        await log_in(id_ctx, AN, PASSWORD)
    assert (await log_in(id_ctx, AN, OTHER_PASSWORD)).token
    with pytest.raises(ValidationFailed):  # the code was used
        await service.reset_password(
            id_ctx, id_number=AN, code=code, new_password="mot-mat-khau-khac-nua-2028"
        )
    assert len(await audit_rows(db, "identity.password_reset", object_id=str(account.id))) == 1


async def test_a_reset_answers_an_unknown_number_exactly_as_a_wrong_code(
    make_citizen: Any, id_ctx: IdentityContext
) -> None:
    await make_citizen()
    await service.request_password_reset(id_ctx, id_number=AN)
    answers = []
    for number, password in [
        (AN, OTHER_PASSWORD),
        ("079085001234", OTHER_PASSWORD),
        # The person's own name as the new password: refused only once the code proved who they are.
        (AN, "nguyenvanan1990"),
        ("079085001234", "nguyenvanan1990"),
    ]:
        with pytest.raises(ValidationFailed) as info:
            await service.reset_password(id_ctx, id_number=number, code="000000x", new_password=password)
        answers.append(field_messages(info.value))
    assert answers == [{"code": "The code is not correct or has expired"}] * 4


async def test_a_refused_new_password_leaves_the_code_usable(
    make_citizen: Any, id_ctx: IdentityContext
) -> None:
    account = await make_citizen()
    await service.request_password_reset(id_ctx, id_number=AN)
    code = await sent_code(id_ctx, account.id, "identity.reset")
    with pytest.raises(ValidationFailed) as info:
        await service.reset_password(id_ctx, id_number=AN, code=code, new_password="nguyenvanan1990")
    assert list(field_messages(info.value)) == ["password"]
    await service.reset_password(id_ctx, id_number=AN, code=code, new_password=OTHER_PASSWORD)


async def test_a_new_reset_code_replaces_the_old_one(make_citizen: Any, id_ctx: IdentityContext) -> None:
    account = await make_citizen()
    await service.request_password_reset(id_ctx, id_number=AN)
    first = await sent_code(id_ctx, account.id, "identity.reset")
    await service.request_password_reset(id_ctx, id_number=AN)
    second = await sent_code(id_ctx, account.id, "identity.reset")
    if first != second:
        with pytest.raises(ValidationFailed):
            await service.reset_password(id_ctx, id_number=AN, code=first, new_password=OTHER_PASSWORD)
    await service.reset_password(id_ctx, id_number=AN, code=second, new_password=OTHER_PASSWORD)


async def test_reset_codes_for_one_account_are_limited_per_hour(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock
) -> None:
    account = await make_citizen()

    async def sent() -> int:
        return sum(m.payload["account_id"] == str(account.id) for m in await outbox(id_ctx))

    for _ in range(service.MAX_RESET_CODES_PER_HOUR + 3):
        assert await service.request_password_reset(id_ctx, id_number=AN) is None
        id_clock.advance(timedelta(minutes=1))
    assert await sent() == service.MAX_RESET_CODES_PER_HOUR
    # The last code that went out still works; an hour after the first one, another may go out.
    code = await sent_code(id_ctx, account.id, "identity.reset")
    await service.reset_password(id_ctx, id_number=AN, code=code, new_password=OTHER_PASSWORD)
    id_clock.set(T0 + timedelta(minutes=59, seconds=59))
    await service.request_password_reset(id_ctx, id_number=AN)
    assert await sent() == service.MAX_RESET_CODES_PER_HOUR
    id_clock.set(T0 + timedelta(minutes=60))
    await service.request_password_reset(id_ctx, id_number=AN)
    assert await sent() == service.MAX_RESET_CODES_PER_HOUR + 1


# --- children under 14 -----------------------------------------------------------------------------


def citizen_principal(account: Account, level: int = 1) -> Principal:
    return Principal(kind="citizen", account_id=account.id, level=level)


async def test_a_parent_links_a_child_under_14_and_the_record_names_the_parent(
    make_citizen: Any, id_ctx: IdentityContext, db: Any
) -> None:
    parent = await make_citizen()
    born = date(2016, 9, 1)
    child = await service.register_child(
        id_ctx,
        citizen_principal(parent),
        id_number=id_number_for(born, "M"),
        full_name="Nguyễn Minh Khang",
        birth_date=born,
        sex="M",
    )
    assert child.guardian_id == parent.id and child.password_hash is None
    assert [c.id for c in await service.children_of(id_ctx, parent.id)] == [child.id]
    [record] = await audit_rows(db, "identity.citizen_created", object_id=str(child.id))
    assert record.actor == f"citizen:{parent.id}"
    assert record.details["guardian"] == str(parent.id)
    # A child has no login of its own.
    with pytest.raises(login_uc.LoginFailed):
        await log_in(id_ctx, child.id_number or "", PASSWORD)


async def test_the_day_before_the_14th_birthday_is_the_last_day_a_child_is_linked(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock
) -> None:
    parent = await make_citizen()
    today = id_clock.now().date()
    turns_14_today = today.replace(year=today.year - 14)
    turns_14_tomorrow = turns_14_today + timedelta(days=1)
    with pytest.raises(ValidationFailed) as info:
        await service.register_child(
            id_ctx,
            citizen_principal(parent),
            id_number=id_number_for(turns_14_today, "F", serial="000001"),
            full_name="Nguyễn Thu Trang",
            birth_date=turns_14_today,
            sex="F",
        )
    assert field_messages(info.value) == {"birth_date": "Only children under 14 are linked to a parent"}
    child = await service.register_child(
        id_ctx,
        citizen_principal(parent),
        id_number=id_number_for(turns_14_tomorrow, "F", serial="000002"),
        full_name="Nguyễn Thu Trang",
        birth_date=turns_14_tomorrow,
        sex="F",
    )
    assert child.guardian_id == parent.id


async def test_only_a_parent_or_an_operator_links_children(
    make_citizen: Any, id_ctx: IdentityContext
) -> None:
    parent = await make_citizen()
    born = date(2018, 1, 1)
    kw: dict[str, Any] = {
        "id_number": id_number_for(born, "M"),
        "full_name": "Nguyễn Minh Khôi",
        "birth_date": born,
        "sex": "M",
    }
    with pytest.raises(Unauthenticated):
        await service.register_child(id_ctx, ANONYMOUS, **kw)
    official = Principal(
        kind="official",
        account_id=uuid.uuid4(),
        level=2,
        roles=(RoleGrant("BTP", "civil_status_officer", "00004"),),
    )
    with pytest.raises(Forbidden):
        await service.register_child(id_ctx, official, **kw)
    with pytest.raises(ValidationFailed) as info:  # an operator must name the guardian
        await service.register_child(id_ctx, OPERATOR_L2, **kw)
    assert list(field_messages(info.value)) == ["guardian_id"]
    child = await service.register_child(id_ctx, OPERATOR_L2, guardian_id=parent.id, **kw)
    assert child.guardian_id == parent.id


async def test_a_child_is_not_a_guardian(make_citizen: Any, id_ctx: IdentityContext) -> None:
    parent = await make_citizen()
    born = date(2016, 9, 1)
    child = await service.register_child(
        id_ctx,
        citizen_principal(parent),
        id_number=id_number_for(born, "M"),
        full_name="Nguyễn Minh Khang",
        birth_date=born,
        sex="M",
    )
    with pytest.raises(ValidationFailed):
        await service.register_child(
            id_ctx,
            OPERATOR_L2,
            guardian_id=child.id,
            id_number=id_number_for(date(2020, 1, 1), "F"),
            full_name="Nguyễn Thu Hà",
            birth_date=date(2020, 1, 1),
            sex="F",
        )


# --- officials -------------------------------------------------------------------------------------


async def test_an_official_gets_one_role_in_one_agency_and_unit(
    make_official: Any, id_ctx: IdentityContext, db: Any
) -> None:
    official = await make_official(" HoTich.BaDinh ")
    assert (official.kind, official.username, official.status) == ("official", "hotich.badinh", "active")
    async with db.uow(readonly=True) as uow:
        roles = await service.roles_of(uow, official.id)
    assert [(r.agency_code, r.role, r.unit_code) for r in roles] == [("BTP", "civil_status_officer", "00004")]
    [record] = await audit_rows(db, "identity.official_created", object_id=str(official.id))
    assert record.details == {"agency": "BTP", "role": "civil_status_officer", "unit": "00004"}


async def test_the_operator_role_makes_an_operator_account(make_official: Any) -> None:
    operator = await make_official("quantri", role="operator", agency="DGOV", unit="*")
    assert operator.kind == "operator"


@pytest.mark.parametrize("unit", ["*", "01", "79", "00004", "26734"])
async def test_valid_units(make_official: Any, unit: str) -> None:
    assert (await make_official("canbo.test", unit=unit)).status == "active"


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"username": ""}, {"username"}),
        ({"username": "has space"}, {"username"}),
        ({"username": "nguyễn.hà"}, {"username"}),  # ASCII only: no look-alike letters in usernames
        ({"username": "a" * 65}, {"username"}),
        ({"username": ".hidden"}, {"username"}),
        ({"username": "001090012345"}, {"username"}),  # would shadow a citizen's ID number at login
        ({"role": "king"}, {"role"}),
        ({"agency": "  "}, {"agency"}),
        ({"unit": "1"}, {"unit"}),
        ({"unit": "123"}, {"unit"}),
        ({"unit": "0000a"}, {"unit"}),
        ({"unit": "０１"}, {"unit"}),  # full-width digits
        ({"unit": ""}, {"unit"}),
        ({"role": "king", "unit": "x", "agency": ""}, {"role", "unit", "agency"}),
        ({"password": "password123"}, {"password"}),
        ({"password": "hotich.badinh.2026"}, {"password"}),  # the username itself
    ],
)
async def test_add_official_validation(
    id_ctx: IdentityContext, db: Any, overrides: dict[str, str], fields: set[str]
) -> None:
    args = {
        "username": "hotich.badinh",
        "agency": "BTP",
        "role": "civil_status_officer",
        "unit": "00004",
        "password": OFFICIAL_PASSWORD,
    } | overrides
    with pytest.raises(ValidationFailed) as info:
        await service.add_official(id_ctx, SYSTEM, **args)
    assert set(field_messages(info.value)) == fields
    assert await count(db, Account) == 0


async def test_a_username_is_taken_once(make_official: Any, db: Any) -> None:
    await make_official("hotich.badinh")
    with pytest.raises(Conflict):
        await make_official("HOTICH.BADINH", role="residence_officer")
    assert await count(db, OfficialRole) == 1


@pytest.mark.parametrize(
    "actor",
    [
        ANONYMOUS,
        Principal(kind="operator", account_id=uuid.uuid4(), level=1),
        Principal(
            kind="official", account_id=uuid.uuid4(), level=2, roles=(RoleGrant("BTP", "agency_admin", "*"),)
        ),
        Principal(kind="citizen", account_id=uuid.uuid4(), level=2),
    ],
)
async def test_only_an_operator_at_level_2_adds_officials(
    id_ctx: IdentityContext, db: Any, actor: Principal
) -> None:
    with pytest.raises((Unauthenticated, Forbidden)):
        await service.add_official(
            id_ctx, actor, username="x.y", agency="BTP", role="operator", unit="*", password=OFFICIAL_PASSWORD
        )
    assert await count(db, Account) == 0
    ok = await service.add_official(
        id_ctx,
        OPERATOR_L2,
        username="x.y",
        agency="BTP",
        role="operator",
        unit="*",
        password=OFFICIAL_PASSWORD,
    )
    [record] = await audit_rows(db, "identity.official_created", object_id=str(ok.id))
    assert record.actor == OPERATOR_L2.ref


async def test_grant_role_validates_like_add_official(
    make_official: Any, make_citizen: Any, id_ctx: IdentityContext, db: Any
) -> None:
    official = await make_official()
    await service.grant_role(
        id_ctx, OPERATOR_L2, account_id=official.id, agency="BCA", role="residence_officer", unit="00004"
    )
    for bad in ({"unit": "4"}, {"role": "king"}, {"agency": ""}):
        args = {"agency": "BCA", "role": "residence_officer", "unit": "00004"} | bad
        with pytest.raises(ValidationFailed):
            await service.grant_role(id_ctx, OPERATOR_L2, account_id=official.id, **args)
    citizen = await make_citizen()
    with pytest.raises(ValidationFailed):
        await service.grant_role(
            id_ctx, OPERATOR_L2, account_id=citizen.id, agency="BCA", role="residence_officer", unit="00004"
        )
    assert await count(db, OfficialRole) == 2


# --- the second factor's enrolment -----------------------------------------------------------------


async def test_enrolment_stores_the_factor_once_a_current_code_proves_the_app(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock, db: Any
) -> None:
    account = await make_citizen()
    enrolment = service.start_totp_enrolment(account)
    assert enrolment.uri.startswith("otpauth://totp/") and enrolment.secret in enrolment.uri
    assert enrolment.qr_svg.startswith("<svg")
    actor = citizen_principal(account)
    with pytest.raises(ValidationFailed):
        await service.confirm_totp_enrolment(id_ctx, actor, secret=enrolment.secret, code="000000")
    assert (await reload(db, account.id)).totp_secret is None
    code = code_at(enrolment.secret, id_clock.now())
    await service.confirm_totp_enrolment(id_ctx, actor, secret=enrolment.secret, code=code)
    stored = await reload(db, account.id)
    assert (
        stored.totp_secret and id_ctx.box(service.TOTP_PURPOSE).open(stored.totp_secret) == enrolment.secret
    )
    # The code that proved the enrolment cannot also log in.
    step = await log_in(id_ctx, AN, PASSWORD)
    assert step.second_factor_required
    with pytest.raises(login_uc.LoginFailed):
        await login_uc.second_factor_step(
            id_ctx, pending_token=step.token, code=code, ip=None, user_agent=None
        )


async def test_replacing_a_factor_needs_a_login_with_the_current_one(
    make_citizen: Any, id_ctx: IdentityContext, id_clock: FrozenClock
) -> None:
    account = await make_citizen(totp=TOTP_SEED)
    enrolment = service.start_totp_enrolment(account)
    code = code_at(enrolment.secret, id_clock.now())
    with pytest.raises(Forbidden):
        await service.confirm_totp_enrolment(
            id_ctx, citizen_principal(account, 1), secret=enrolment.secret, code=code
        )
    await service.confirm_totp_enrolment(
        id_ctx, citizen_principal(account, 2), secret=enrolment.secret, code=code
    )


async def test_nobody_enrols_a_factor_for_someone_else(make_citizen: Any, id_ctx: IdentityContext) -> None:
    with pytest.raises(DomainError):
        await service.confirm_totp_enrolment(id_ctx, OPERATOR_L2, secret=TOTP_SEED, code="123456")


async def test_get_account_applies_the_view_rule(make_citizen: Any, id_ctx: IdentityContext) -> None:
    an = await make_citizen()
    other = await make_citizen(birth=date(1992, 7, 20), sex="F", full_name="Trần Thị Bình", serial="034567")
    assert (await service.get_account(id_ctx, citizen_principal(an), an.id)).id == an.id
    with pytest.raises(Forbidden):
        await service.get_account(id_ctx, citizen_principal(other), an.id)
    with pytest.raises(Unauthenticated):
        await service.get_account(id_ctx, ANONYMOUS, an.id)
    assert (await service.get_account(id_ctx, OPERATOR_L2, an.id)).id == an.id


# --- connected applications ------------------------------------------------------------------------


async def grant(db: Any, account: Account, client_id: str) -> None:
    """What the OIDC provider leaves behind after a consent: the client, the consent and a token."""
    now = clock.now()
    async with db.uow() as uow:
        if await uow.session.get(OAuthClient, client_id) is None:
            uow.session.add(
                OAuthClient(
                    client_id=client_id, secret_hash=None, name=f"Ứng dụng {client_id}", redirect_uris=[],
                    scopes="openid profile", grant_types=["authorization_code"], public=True,
                    id_token_alg="ES256", sector=client_id, post_logout_redirect_uris=[], created_at=now,
                )
            )  # fmt: skip
            await uow.flush()
        uow.session.add(
            Consent(
                id=uuid.uuid4(), account_id=account.id, client_id=client_id, scopes=["openid"], granted_at=now
            )
        )
        uow.session.add(
            OAuthToken(
                id=uuid.uuid4(), access_hash=uuid.uuid4().hex, refresh_hash=uuid.uuid4().hex,
                client_id=client_id, account_id=account.id, scope="openid", issued_at=now,
                expires_at=now + timedelta(hours=1),
            )
        )  # fmt: skip
        await uow.commit()


async def test_revoking_a_connection_withdraws_consent_and_every_token_at_once(
    make_citizen: Any, id_ctx: IdentityContext, db: Any
) -> None:
    an = await make_citizen()
    binh = await make_citizen(birth=date(1992, 7, 20), sex="F", full_name="Trần Thị Bình", serial="034567")
    for who, client_id in [(an, "cong-dvc"), (an, "bhxh-app"), (binh, "cong-dvc")]:
        await grant(db, who, client_id)
    assert {c.client_id for c in await connections.connections_of(id_ctx, citizen_principal(an))} == {
        "cong-dvc",
        "bhxh-app",
    }
    await connections.revoke_connection(id_ctx, citizen_principal(an), client_id="cong-dvc")
    assert [c.client_id for c in await connections.connections_of(id_ctx, citizen_principal(an))] == [
        "bhxh-app"
    ]
    live = OAuthToken.revoked_at.is_(None)
    assert (
        await count(db, OAuthToken, live, OAuthToken.account_id == an.id, OAuthToken.client_id == "cong-dvc")
        == 0
    )
    assert (
        await count(db, OAuthToken, live, OAuthToken.account_id == an.id, OAuthToken.client_id == "bhxh-app")
        == 1
    )
    assert await count(db, OAuthToken, live, OAuthToken.account_id == binh.id) == 1  # Bình's grant stands
    assert len(await audit_rows(db, "identity.consent_revoked", object_id="cong-dvc")) == 1
    with pytest.raises(NotFound):  # twice, or someone else's: nothing to revoke
        await connections.revoke_connection(id_ctx, citizen_principal(an), client_id="cong-dvc")
    with pytest.raises(NotFound):
        await connections.revoke_connection(id_ctx, ANONYMOUS, client_id="bhxh-app")


# --- the demo accounts -----------------------------------------------------------------------------


async def test_the_demo_accounts_load_once_and_log_in_with_the_published_passwords(
    runtime: Any, id_ctx: IdentityContext, id_clock: FrozenClock, db: Any
) -> None:

    runtime.secret = id_ctx.secret  # so that this test's context opens the seeds the demo sealed
    await demo.load(runtime)
    await demo.load(runtime)  # idempotent
    people = len(demo.CITIZENS) + 1 + len(demo.OFFICIALS) + 1
    assert await count(db, Account) == people
    for id_number, _name, _born, _sex, seed, _phone in demo.CITIZENS:
        step = await log_in(id_ctx, id_number, demo.CITIZEN_PASSWORD)
        assert step.second_factor_required == (seed is not None)
        if seed:
            await login_uc.second_factor_step(
                id_ctx, pending_token=step.token, code=code_at(seed, id_clock.now()), ip=None, user_agent=None
            )
    for username, _name, _agency, role, _unit, seed in [*demo.OFFICIALS, demo.OPERATOR]:
        step = await login_uc.password_step(
            id_ctx,
            identifier=username,
            password=demo.OPERATOR_PASSWORD if role == "operator" else demo.OFFICIAL_PASSWORD,
            ip=None,
            user_agent=None,
        )
        token = await login_uc.second_factor_step(
            id_ctx, pending_token=step.token, code=code_at(seed, id_clock.now()), ip=None, user_agent=None
        )
        login = await sessions.resolve(id_ctx, token)
        assert login is not None and login.principal.holds(role)
    children = await service.children_of(id_ctx, (await accounts_by_number(db))[demo.CITIZENS[0][0]])
    assert [c.id_number for c in children] == [demo.CHILD[0]]


async def accounts_by_number(db: Any) -> dict[str | None, uuid.UUID]:
    async with db.uow(readonly=True) as uow:
        return {a.id_number: a.id for a in await uow.session.scalars(select(Account))}
