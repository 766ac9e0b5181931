"""Delivery providers. The embedded shape keeps messages in the database (shown on /dev/messages);
SMTP and SMS gateways plug in behind the same interface."""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger("dgov.notify")


class Provider(Protocol):
    async def send(self, *, channel: str, to: str, subject: str, body: str) -> None: ...


class LogProvider:
    """Writes a (masked) log line; the message itself is stored by the caller for the developer viewer."""

    async def send(self, *, channel: str, to: str, subject: str, body: str) -> None:
        log.info("message sent", extra={"channel": channel, "to": to, "subject": subject})
