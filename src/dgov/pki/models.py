"""PKI tables: every certificate the node's CAs issued, with its revocation state.

Private keys are not here: they sit encrypted under `var/keys/pki/`, so a database dump alone can sign
nothing. Serials are stored as hex text because RFC 5280 allows 20 octets, beyond any integer column.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from sqlalchemy import Index, LargeBinary, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from dgov.kernel.db import Base, UTCDateTime


class PkiCertificate(Base):
    __tablename__ = "pki_certificates"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # root | issuing | tsa | ocsp | agency
    kind: Mapped[str] = mapped_column(String(20))
    # "root", "issuing", "tsa", "ocsp", or the agency code
    name: Mapped[str] = mapped_column(String(50))
    issuer_id: Mapped[uuid.UUID | None] = mapped_column()
    serial: Mapped[str] = mapped_column(String(40), unique=True)
    subject: Mapped[str] = mapped_column(String(500))
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    der: Mapped[bytes] = mapped_column(LargeBinary)
    key_file: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revocation_reason: Mapped[str | None] = mapped_column(String(30))

    __table_args__ = (Index("ix_pki_certificates_kind_name", "kind", "name", "created_at"),)


certificates = cast(Table, PkiCertificate.__table__)
