from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dgov.kernel.db import Base, UTCDateTime


class Notification(Base):
    __tablename__ = "notify_messages"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True)  # the outbox message: one notification each
    channel: Mapped[str] = mapped_column(String(20))  # sms | email | inbox
    recipient: Mapped[str] = mapped_column(String(200))
    account_id: Mapped[str | None] = mapped_column(String(36))
    # The person's ID number for the in-app inbox: a message to a parent who is not the one logged in.
    person: Mapped[str | None] = mapped_column(String(12))
    template: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))  # sent | failed
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_notify_messages_account", "account_id", "created_at"),
        Index("ix_notify_messages_person", "person", "created_at"),
    )
