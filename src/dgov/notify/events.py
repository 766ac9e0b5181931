"""Consumer of `notify.send`: renders the template and delivers through the provider."""

from __future__ import annotations

from dgov.kernel import clock
from dgov.kernel.ids import new_id
from dgov.kernel.outbox import Message, subscribe
from dgov.kernel.uow import UnitOfWork
from dgov.notify.models import Notification
from dgov.notify.providers import LogProvider
from dgov.notify.templates import render

provider = LogProvider()


@subscribe("notify.send", "notify.deliver")
async def deliver(uow: UnitOfWork, message: Message) -> None:
    p = message.payload
    params = {k: str(v) for k, v in (p.get("params") or {}).items()}
    subject, body = render(p["template"], params, locale=p.get("locale", "vi"))
    await provider.send(channel=p["channel"], to=p.get("to", ""), subject=subject, body=body)
    now = clock.now()
    uow.session.add(
        Notification(
            id=new_id(),
            event_id=message.id,
            channel=p["channel"],
            recipient=p.get("to", ""),
            account_id=p.get("account_id"),
            template=p["template"],
            subject=subject,
            body=body,
            status="sent",
            attempts=message.attempts,
            created_at=message.created_at,
            sent_at=now,
        )
    )
