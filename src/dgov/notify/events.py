"""Consumer of `notify.send`: renders the template and delivers through the channel's provider.

Channels: `inbox` (stored only: the citizen's in-app inbox), `email` (SMTP when DGOV_SMTP_HOST is set,
else logged), `sms` (the SMS provider; the log provider by default). A provider failure raises: the
outbox retries the message with backoff and parks it as dead after its last attempt, and nothing is
recorded as sent meanwhile.
"""

from __future__ import annotations

from typing import Any

from dgov.kernel import clock
from dgov.kernel.ids import new_id
from dgov.kernel.outbox import Message, subscribe
from dgov.kernel.uow import UnitOfWork
from dgov.notify.models import Notification
from dgov.notify.providers import LogProvider, LogSmsProvider, SmsProvider, SmtpProvider
from dgov.notify.settings import NotifySettings
from dgov.notify.templates import render

provider = LogProvider()
_sms: SmsProvider = LogSmsProvider()
_smtp: SmtpProvider | None = None
_configured = False


def configure(*, smtp: SmtpProvider | None = None, sms: SmsProvider | None = None) -> None:
    """Set the providers explicitly (tests, or a node wiring its own gateway)."""
    global _smtp, _sms, _configured
    _smtp, _configured = smtp, True
    if sms is not None:
        _sms = sms


def _providers() -> tuple[SmtpProvider | None, SmsProvider]:
    global _smtp, _configured
    if not _configured:
        s = NotifySettings()
        if s.smtp_host:
            _smtp = SmtpProvider(
                s.smtp_host,
                s.smtp_port,
                sender=s.smtp_from,
                starttls=s.smtp_starttls,
                username=s.smtp_user,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            )
        _configured = True
    return _smtp, _sms


async def _deliver(channel: str, to: str, subject: str, body: str) -> None:
    smtp, sms = _providers()
    if channel == "email" and smtp is not None and to:
        await smtp.send_email(to=to, subject=subject, body=body)
    elif channel == "sms" and to:
        await sms.send_sms(to=to, body=body)
    elif channel != "inbox":
        await provider.send(channel=channel, to=to, subject=subject, body=body)


@subscribe("notify.send", "notify.deliver")
async def deliver(uow: UnitOfWork, message: Message) -> None:
    p: dict[str, Any] = message.payload
    params = {k: str(v) for k, v in (p.get("params") or {}).items()}
    subject, body = render(p["template"], params, locale=p.get("locale", "vi"))
    await _deliver(p["channel"], p.get("to", ""), subject, body)
    now = clock.now()
    uow.session.add(
        Notification(
            id=new_id(),
            event_id=message.id,
            channel=p["channel"],
            recipient=p.get("to", "") or "",
            account_id=p.get("account_id"),
            person=p.get("person"),
            template=p["template"],
            subject=subject,
            body=body,
            status="sent",
            attempts=message.attempts,
            created_at=message.created_at,
            sent_at=now,
        )
    )
