"""Delivery providers. The embedded shape keeps messages in the database (shown on /dev/messages);
SMTP and SMS gateways plug in behind the same interface."""

from __future__ import annotations

import logging
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

    async def send(self, *, channel: str, to: str, subject: str, body: str) -> None:
        log.info("message sent", extra={"channel": channel, "to": mask_recipient(to), "subject": subject})
