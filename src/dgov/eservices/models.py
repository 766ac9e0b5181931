"""Dossier tables: the dossier itself, its timeline, messages, and the per-agency daily code counters.

The workflow's own tables (process instances, work items, timers) live in `workflow_models`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Date, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dgov.kernel.db import Base, JSONType, UTCDateTime


class Dossier(Base):
    __tablename__ = "eservices_dossiers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # Assigned at submission; a draft has none.
    code: Mapped[str | None] = mapped_column(String(40), unique=True)
    procedure_id: Mapped[str] = mapped_column(String(80))
    # Digest of the procedure file the dossier was made with: the form it was filled against.
    procedure_digest: Mapped[str] = mapped_column(String(64))
    agency_code: Mapped[str] = mapped_column(String(30))
    agency_member: Mapped[str] = mapped_column(String(20))
    applicant_account: Mapped[uuid.UUID] = mapped_column()
    applicant_id_number: Mapped[str] = mapped_column(String(12))
    applicant_name: Mapped[str] = mapped_column(String(200))
    # Set when a parent files for a child in their care (the child's account id).
    on_behalf_of: Mapped[uuid.UUID | None] = mapped_column()
    commune_code: Mapped[str | None] = mapped_column(String(5))
    province_code: Mapped[str | None] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(30))
    idempotency_key: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # dotted path → where the prefilled value came from (registry, key, agency, changed_at, mode).
    sources: Mapped[dict[str, Any]] = mapped_column(JSONType)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    due_date: Mapped[date | None] = mapped_column(Date)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("applicant_account", "idempotency_key", name="uq_eservices_dossiers_idempotency"),
        Index("ix_eservices_dossiers_applicant", "applicant_account", "created_at"),
        Index("ix_eservices_dossiers_status_due", "status", "due_date"),
    )


class DossierEvent(Base):
    """One line of the timeline: a status change, an apology with a new date, a result, a note."""

    __tablename__ = "eservices_dossier_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    dossier_id: Mapped[uuid.UUID] = mapped_column()
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(20))  # status | apology | result | message
    from_status: Mapped[str | None] = mapped_column(String(30))
    to_status: Mapped[str | None] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(200))
    actor_name: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)

    __table_args__ = (Index("ix_eservices_dossier_events_dossier", "dossier_id", "at"),)


class DossierMessage(Base):
    __tablename__ = "eservices_messages"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    dossier_id: Mapped[uuid.UUID] = mapped_column()
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    sender_kind: Mapped[str] = mapped_column(String(20))  # citizen | official | system
    sender: Mapped[str] = mapped_column(String(200))
    sender_name: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_eservices_messages_dossier", "dossier_id", "at"),)


class Declaration(Base):
    """Someone named in a dossier whose own records it would change without the registries saying so
    (a father who is not the mother's spouse on record, a household head taking in a new member): the
    dossier's process does not start, so nothing is written, until that person confirms in their account."""

    __tablename__ = "eservices_declarations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    dossier_id: Mapped[uuid.UUID] = mapped_column()
    kind: Mapped[str] = mapped_column(String(30))  # parent | household_head
    role: Mapped[str] = mapped_column(String(30))  # the form section naming them: father, mother, residence
    person_id_number: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(20))  # pending | confirmed | refused
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        UniqueConstraint("dossier_id", "kind", "person_id_number", name="uq_eservices_declarations_person"),
        Index("ix_eservices_declarations_person", "person_id_number", "status"),
    )


class CodeCounter(Base):
    """The last sequence number handed out for one agency on one day (dossier codes)."""

    __tablename__ = "eservices_code_counters"

    agency_code: Mapped[str] = mapped_column(String(30), primary_key=True)
    day: Mapped[str] = mapped_column(String(6), primary_key=True)  # YYMMDD
    last: Mapped[int] = mapped_column(Integer)


dossiers = cast(Table, Dossier.__table__)
events = cast(Table, DossierEvent.__table__)
messages = cast(Table, DossierMessage.__table__)
counters = cast(Table, CodeCounter.__table__)
declarations = cast(Table, Declaration.__table__)


# The workflow engine's tables belong to the same domain: loading the models loads them too.
import dgov.eservices.workflow_models  # noqa: E402,F401
