"""The notify domain on both databases: `notify.send` events delivered by the real outbox dispatcher into
stored messages (once each), message templates in the recipient's language, the masked log line, and the
developer viewer at /dev/messages (only with DGOV_DEV_MAILBOX=true, to an operator, never in production)."""

from __future__ import annotations

import io
import logging
import string
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract
from httpx import ASGITransport, AsyncClient
from idkit import OFFICIAL_PASSWORD, PASSWORD, count
from sqlalchemy import select

import dgov.notify.events
import dgov.notify.templates
from dgov.kernel.clock import FrozenClock
from dgov.kernel.config import Settings
from dgov.kernel.i18n import translations
from dgov.kernel.models import OutboxMessage
from dgov.kernel.outbox import Dispatcher
from dgov.kernel.uow import Database
from dgov.locale.extract import extract_dgov_python
from dgov.notify.models import Notification
from dgov.notify.providers import mask_recipient
from dgov.notify.templates import TEMPLATES, render
from dgov.web.app import create_app
from dgov.web.runtime import Runtime


async def send(db: Database, **payload: Any) -> uuid.UUID:
    body = {
        "channel": "sms",
        "to": "0912000001",
        "account_id": str(uuid.uuid4()),
        "template": "identity.activate",
        "params": {"code": "042137", "name": "Nguyễn Văn An"},
    } | payload
    async with db.uow() as uow:
        msg_id = uow.publish("notify.send", body)
        await uow.commit()
    return msg_id


async def stored(db: Database) -> list[Notification]:
    async with db.uow(readonly=True) as uow:
        return list(await uow.session.scalars(select(Notification).order_by(Notification.created_at)))


async def status(db: Database, msg_id: uuid.UUID) -> tuple[str, int, str | None]:
    async with db.uow(readonly=True) as uow:
        row = await uow.session.get(OutboxMessage, msg_id)
        assert row is not None
        return row.status, row.attempts, row.last_error


async def test_an_event_becomes_one_stored_message(db: Database, id_clock: FrozenClock) -> None:
    msg_id = await send(db)
    assert await Dispatcher(db).run_once() == 1
    [message] = await stored(db)
    assert message.event_id == msg_id
    assert (message.channel, message.recipient, message.template, message.status) == (
        "sms",
        "0912000001",
        "identity.activate",
        "sent",
    )
    assert message.subject == translations("vi").gettext("Your dgov activation code")
    assert "042137" in message.body and "Nguyễn Văn An" in message.body
    assert message.sent_at == id_clock.now() and message.attempts == 1
    assert (await status(db, msg_id))[0] == "delivered"
    assert await Dispatcher(db).run_once() == 0
    assert await count(db, Notification) == 1


async def test_the_recipients_language_is_used(db: Database) -> None:
    await send(db, locale="en")
    await Dispatcher(db).run_once()
    [message] = await stored(db)
    assert message.subject == "Your dgov activation code"
    assert message.body.startswith("Hello Nguyễn Văn An, your activation code is 042137.")


async def test_an_unknown_template_is_retried_and_stores_nothing(db: Database) -> None:
    msg_id = await send(db, template="identity.nonexistent")
    assert await Dispatcher(db).run_once() == 0
    state, attempts, error = await status(db, msg_id)
    assert (state, attempts) == ("pending", 1)
    assert error and "notify.deliver" in error
    assert await stored(db) == []


async def test_a_rolled_back_change_sends_no_message(db: Database) -> None:
    async with db.uow() as uow:
        uow.publish(
            "notify.send", {"channel": "sms", "to": "x", "template": "identity.activate", "params": {}}
        )
        await uow.rollback()
    assert await Dispatcher(db).run_once() == 0
    assert await stored(db) == []


@pytest.mark.parametrize("template", sorted(TEMPLATES))
@pytest.mark.parametrize("locale", ["vi", "en"])
def test_every_template_renders_its_parameters(template: str, locale: str) -> None:
    t = TEMPLATES[template]
    names = {f for _, f, _, _ in string.Formatter().parse(t.subject + t.body) if f}
    params = {name: f"«{name}-042137»" for name in names}
    subject, body = render(template, params, locale=locale)
    assert subject and names
    for name in names:  # every parameter reaches the message, in either language
        assert params[name] in subject + body
    assert "{" not in subject + body


def test_template_texts_are_found_by_the_message_extractor() -> None:
    """Texts looked up from a table are invisible to gettext extraction unless marked: without that,
    scripts/i18n.sh would never put them in the catalogue to be translated."""
    source = (Path(dgov.notify.templates.__file__)).read_bytes()
    found = {m[1] for m in extract(extract_dgov_python, io.BytesIO(source))}
    assert {text for t in TEMPLATES.values() for text in (t.subject, t.body)} <= found


def test_templates_have_vietnamese_translations() -> None:
    missing = [
        text
        for t in TEMPLATES.values()
        for text in (t.subject, t.body)
        if translations("vi").gettext(text) == text
    ]
    assert not missing, f"untranslated in vi/LC_MESSAGES/messages.po (run scripts/i18n.sh): {missing}"


@pytest.mark.parametrize(
    ("to", "masked"),
    [
        ("0912000001", "091*****01"),
        ("+84912000001", "+84*******01"),
        ("an.nguyen@example.vn", "a***@example.vn"),
        ("", ""),
        ("123", "***"),
    ],
)
def test_recipients_are_masked(to: str, masked: str) -> None:
    assert mask_recipient(to) == masked


async def test_the_log_line_names_neither_the_recipient_nor_the_code(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await send(db)
    with caplog.at_level(logging.INFO, logger="dgov.notify"):
        await Dispatcher(db).run_once()
    [record] = [r for r in caplog.records if r.name == "dgov.notify"]
    assert record.getMessage() == "sms sent"
    assert vars(record)["to"] == "091*****01"
    assert "0912000001" not in str(vars(record)) and "042137" not in str(vars(record))


# --- the developer viewer --------------------------------------------------------------------------


@pytest.fixture
async def mailbox_client(settings: Settings, runtime: Runtime, id_web_ctx: Any) -> AsyncIterator[AsyncClient]:
    """The app with the explicit DGOV_DEV_MAILBOX=true, reached from this machine (loopback)."""
    on = settings.model_copy(update={"dev_mailbox": True})
    app = create_app(on, runtime=runtime)
    transport = ASGITransport(app=app, client=("127.0.0.1", 51000))
    async with AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def log_in(client: AsyncClient, field: str, identifier: str, password: str) -> None:
    await client.get("/login")
    r = await client.post(
        "/login",
        data={field: identifier, "password": password, "csrftoken": client.cookies["csrftoken"]},
    )
    assert r.status_code == 303, r.text[:300]


async def test_the_viewer_shows_delivered_messages_escaped_to_an_operator(
    mailbox_client: AsyncClient, db: Database, make_official: Any
) -> None:
    await send(db, params={"code": "042137", "name": "<script>alert(1)</script>"})
    await Dispatcher(db).run_once()
    await make_official("quantri", role="operator", agency="DGOV", unit="*")
    await log_in(mailbox_client, "username", "quantri", OFFICIAL_PASSWORD)
    r = await mailbox_client.get("/dev/messages")
    assert r.status_code == 200
    assert "042137" in r.text and "0912000001" in r.text
    assert "<script>alert(1)</script>" not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text


async def test_the_viewer_asks_for_a_login_and_refuses_anyone_but_an_operator(
    mailbox_client: AsyncClient, db: Database, make_citizen: Any
) -> None:
    """From this machine, with the mailbox on: still nothing without an operator's login (behind a
    same-host proxy, every visitor comes from 127.0.0.1)."""
    await send(db)
    await Dispatcher(db).run_once()
    anonymous = await mailbox_client.get("/dev/messages")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?")
    await make_citizen()
    await log_in(mailbox_client, "id_number", "001090012345", PASSWORD)
    citizen = await mailbox_client.get("/dev/messages")
    assert citizen.status_code == 403
    assert "042137" not in anonymous.text + citizen.text


async def test_the_viewer_does_not_exist_without_the_explicit_setting(
    client: AsyncClient, db: Database, make_official: Any, id_web_ctx: Any
) -> None:
    """The default settings (env=dev, a loopback client) no longer show it, even to an operator."""
    await send(db)
    await Dispatcher(db).run_once()
    await make_official("quantri", role="operator", agency="DGOV", unit="*")
    await log_in(client, "username", "quantri", OFFICIAL_PASSWORD)
    r = await client.get("/dev/messages")
    assert r.status_code == 404
    assert "042137" not in r.text


@pytest.fixture
async def prod_client(settings: Settings, db: Database) -> AsyncIterator[AsyncClient]:
    prod = settings.model_copy(update={"env": "prod", "dev_mailbox": True})
    app = create_app(prod, runtime=Runtime.build(prod, db=db))
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


async def test_the_viewer_does_not_exist_in_production(prod_client: AsyncClient, db: Database) -> None:
    await send(db)
    await Dispatcher(db).run_once()
    r = await prod_client.get("/dev/messages")
    assert r.status_code == 404
    assert "042137" not in r.text
