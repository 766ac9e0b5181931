"""SMS through the provider interface, the inbox channel, and the log provider's masking."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from dgov.kernel import clock
from dgov.kernel.ids import new_id
from dgov.kernel.outbox import Message
from dgov.kernel.uow import Database
from dgov.notify import events
from dgov.notify.models import Notification
from dgov.notify.providers import LogSmsProvider


class RecordingGateway:
    """An SMS gateway of our own making behind the provider interface (no operator runs here)."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail = fail

    async def send_sms(self, *, to: str, body: str) -> None:
        if self.fail:
            raise ConnectionError("gateway down")
        self.sent.append((to, body))


def _msg(channel: str, **extra: str) -> Message:
    payload = {"channel": channel, "template": "eservices.result_issued", "params": {"code": "C-1"}, **extra}
    return Message(new_id(), "notify.send", None, payload, clock.now(), 1)


async def test_sms_goes_through_the_provider(db: Database) -> None:
    gw = RecordingGateway()
    events.configure(smtp=None, sms=gw)
    try:
        msg = _msg("sms", to="0912000001", locale="en")
        async with db.uow() as uow:
            await events.deliver(uow, msg)
            await uow.commit()
        assert gw.sent == [
            ("0912000001", "Your dossier C-1 has been processed. The result is in your document wallet.")
        ]
        async with db.uow(readonly=True) as uow:
            n = await uow.session.scalar(select(Notification).where(Notification.event_id == msg.id))
        assert n is not None and n.channel == "sms" and n.status == "sent"
    finally:
        events.configure(smtp=None, sms=LogSmsProvider())


async def test_a_failing_gateway_records_nothing_so_the_outbox_retries(db: Database) -> None:
    events.configure(smtp=None, sms=RecordingGateway(fail=True))
    try:
        msg = _msg("sms", to="0912000001")
        async with db.uow() as uow:
            with pytest.raises(ConnectionError):
                await events.deliver(uow, msg)
        async with db.uow(readonly=True) as uow:
            assert (
                await uow.session.scalar(select(Notification).where(Notification.event_id == msg.id)) is None
            )
    finally:
        events.configure(smtp=None, sms=LogSmsProvider())


async def test_the_log_provider_masks_the_number(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="dgov.notify"):
        await LogSmsProvider().send_sms(to="0912000001", body="mã 123456")
    rec = caplog.records[-1]
    assert getattr(rec, "to", "") == "091*****01" and "123456" not in rec.getMessage()
