"""Email through a real SMTP server (aiosmtpd on a loopback port) and the notify.send consumer."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from dgov.kernel import clock
from dgov.kernel.ids import new_id
from dgov.kernel.outbox import Message
from dgov.kernel.uow import Database
from dgov.notify import events
from dgov.notify.models import Notification
from dgov.notify.providers import SmtpProvider


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[_Inbox, int]]:
    inbox, port = _Inbox(), _free_port()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port)
    ctl.start()
    yield inbox, port
    ctl.stop()


async def test_smtp_provider_delivers(smtp: tuple[_Inbox, int]) -> None:
    inbox, port = smtp
    await SmtpProvider("127.0.0.1", port, sender="dgov@example.vn").send_email(
        to="an@example.vn", subject="Hồ sơ 000.00.12.H26-261127-0001", body="Xin chào"
    )
    assert len(inbox.messages) == 1
    env = inbox.messages[0]
    assert env.rcpt_tos == ["an@example.vn"] and env.mail_from == "dgov@example.vn"
    assert "Xin ch" in env.content.decode("utf-8", "replace") or b"=?utf-8?" in env.content


async def test_smtp_down_raises_so_the_outbox_retries() -> None:
    with pytest.raises(OSError):
        await SmtpProvider("127.0.0.1", _free_port(), timeout=2).send_email(
            to="a@b.vn", subject="s", body="b"
        )


async def test_consumer_sends_email_in_english_and_records_it(db: Database, smtp: tuple[_Inbox, int]) -> None:
    inbox, port = smtp
    events.configure(smtp=SmtpProvider("127.0.0.1", port))
    try:
        msg = Message(
            new_id(),
            "notify.send",
            None,
            {
                "channel": "email",
                "to": "binh@example.vn",
                "template": "eservices.rejected",
                "params": {"code": "X-1", "reason": "r"},
                "locale": "en",
            },
            clock.now(),
            1,
        )
        async with db.uow() as uow:
            await events.deliver(uow, msg)
            await uow.commit()
        async with db.uow(readonly=True) as uow:
            n = await uow.session.scalar(select(Notification).where(Notification.event_id == msg.id))
        assert n is not None and n.status == "sent" and n.subject == "Dossier X-1 was refused"
        assert len(inbox.messages) == 1
        # the inbox channel stores without sending
        msg2 = Message(
            new_id(),
            "notify.send",
            None,
            {
                "channel": "inbox",
                "person": "001090012345",
                "template": "eservices.result_issued",
                "params": {"code": "X-2"},
            },
            clock.now(),
            1,
        )
        async with db.uow() as uow:
            await events.deliver(uow, msg2)
            await uow.commit()
        assert len(inbox.messages) == 1
        await asyncio.sleep(0)
    finally:
        events.configure(smtp=None)
