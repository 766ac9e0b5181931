"""Delivery providers. The embedded shape keeps messages in the database (shown on /dev/messages);
SMTP and SMS gateways plug in behind the same interface."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

log = logging.getLogger("dgov.notify")


class Provider(Protocol):
    async def send(self, *, channel: str, to: str, subject: str, body: str) -> None: ...


def mask_recipient(to: str) -> str:
    """Enough of an address to tell messages apart in a log, not enough to contact the person: log
    masking covers ID numbers only, and phone numbers and email addresses are personal data too."""
    if "@" in to:
        local, _at, domain = to.partition("@")
        return f"{local[:1]}***@{domain}"
    if len(to) <= 4:
        return "*" * len(to)
    return f"{to[:3]}{'*' * (len(to) - 5)}{to[-2:]}"


class LogProvider:
    """Writes a (masked) log line; the message itself is stored by the caller for the developer viewer.
    The body is never logged: it carries one-time codes."""

    async def send(self, *, channel: str, to: str, subject: str, **_body: str) -> None:
        log.info("message sent", extra={"channel": channel, "to": mask_recipient(to), "subject": subject})


class SmsProvider(Protocol):
    """An SMS gateway. The embedded default logs (masked); a country plugs its operator's API in here."""

    async def send_sms(self, *, to: str, body: str) -> None: ...


class LogSmsProvider:
    async def send_sms(self, *, to: str, body: str) -> None:
        log.info("sms sent", extra={"channel": "sms", "to": mask_recipient(to), "chars": len(body)})


class SmtpProvider:
    """Email through an SMTP relay (stdlib smtplib in a worker thread: one connection per message is
    enough at a notification's rate, and a slow relay never blocks the event loop)."""

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        sender: str = "dgov@localhost",
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.starttls, self.username, self.password, self.timeout = starttls, username, password, timeout

    def _send(self, to: str, subject: str, body: str) -> None:

        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.sender, to, subject
        msg["Date"], msg["Message-ID"] = formatdate(localtime=False), make_msgid(domain="dgov")
        msg.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(msg)

    async def send_email(self, *, to: str, subject: str, body: str) -> None:

        await asyncio.to_thread(self._send, to, subject, body)
        log.info("email sent", extra={"channel": "email", "to": mask_recipient(to), "subject": subject})
