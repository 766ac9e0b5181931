"""Registry tables: one generic store for every registry declared as data.

`registry_records` holds the current version of each record plus the few columns that searches and
the access log need (extracted from the data as the registry's schema declares); `registry_record_versions`
holds every superseded version with its validity interval, so a record can be read as of any instant.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Boolean, Date, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dgov.kernel.db import Base, JSONType, UTCDateTime


class RegistrySchema(Base):
    """A registry's JSON Schema at one version, as shipped in `registries/schemas/` (kept for history)."""

    __tablename__ = "registry_schemas"

    registry_name: Mapped[str] = mapped_column("registry", String(50), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    schema: Mapped[dict[str, Any]] = mapped_column(JSONType)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RegistryRecord(Base):
    __tablename__ = "registry_records"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    registry_name: Mapped[str] = mapped_column("registry", String(50))
    key: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    schema_version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # The personal ID number of the person the record is about (for the access log and "my data").
    subject_id: Mapped[str | None] = mapped_column(String(12))
    name_norm: Mapped[str | None] = mapped_column(String(200))
    birth_date: Mapped[date | None] = mapped_column(Date)
    birth_year: Mapped[int | None] = mapped_column(Integer)
    province_code: Mapped[str | None] = mapped_column(String(3))
    commune_code: Mapped[str | None] = mapped_column(String(5))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    changed_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(300))
    legal_basis: Mapped[str | None] = mapped_column(String(300))
    dossier_code: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("registry", "key", name="uq_registry_records_registry_key"),
        Index("ix_registry_records_name", "registry", "name_norm", "birth_year", "key"),
        Index("ix_registry_records_place_name", "registry", "province_code", "name_norm"),
        Index("ix_registry_records_subject", "subject_id"),
    )


class RegistryRecordVersion(Base):
    """A superseded version: valid from `valid_from` until `valid_to` (exclusive)."""

    __tablename__ = "registry_record_versions"

    record_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    schema_version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_to: Mapped[datetime] = mapped_column(UTCDateTime())
    changed_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(300))
    legal_basis: Mapped[str | None] = mapped_column(String(300))
    dossier_code: Mapped[str | None] = mapped_column(String(50))


class PersonalDataAccess(Base):
    """Every read of a person's data by an official, a client or an agency: what the person sees on
    "Dữ liệu của tôi" (who, which fields, why, when)."""

    __tablename__ = "registry_access_log"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(12))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    accessor_kind: Mapped[str] = mapped_column(String(20))  # official | client | agency | system
    accessor: Mapped[str] = mapped_column(String(200))
    accessor_name: Mapped[str] = mapped_column(String(300))
    registry_name: Mapped[str] = mapped_column("registry", String(50))
    record_key: Mapped[str] = mapped_column(String(100))
    fields: Mapped[list[str]] = mapped_column(JSONType)
    purpose: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str | None] = mapped_column(String(300))
    dossier_code: Mapped[str | None] = mapped_column(String(50))
    channel: Mapped[str] = mapped_column(String(20))  # page | api | exchange | cli

    __table_args__ = (Index("ix_registry_access_log_subject", "subject_id", "at"),)


class AdminUnit(Base):
    """Administrative units as versioned data: a code list changes (mergers, a province becoming a
    centrally-run city), so each row has an effective interval."""

    __tablename__ = "registry_admin_units"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(10))
    level: Mapped[str] = mapped_column(String(10))  # province | commune | district (legacy)
    name: Mapped[str] = mapped_column(String(200))
    parent_code: Mapped[str | None] = mapped_column(String(10))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(300))

    __table_args__ = (Index("ix_registry_admin_units_code", "code", "level", "valid_from"),)


records = cast(Table, RegistryRecord.__table__)
versions = cast(Table, RegistryRecordVersion.__table__)
access_log = cast(Table, PersonalDataAccess.__table__)
admin_units = cast(Table, AdminUnit.__table__)
