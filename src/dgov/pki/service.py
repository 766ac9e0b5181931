"""PKI use cases: initialise the hierarchy, issue, revoke and rotate agency certificates, list.

These are operator actions (the CLI, as `system:cli` or a named operator); each one is audited. Every
certificate is a row in `pki_certificates`; the CA a certificate hangs under is found by `issuer_id`.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from dgov.kernel import clock
from dgov.kernel.audit import AuditEntry
from dgov.kernel.config import Settings
from dgov.kernel.db import utcnow_naive_safe
from dgov.kernel.errors import Conflict, NotFound, ValidationFailed
from dgov.kernel.ids import new_id
from dgov.kernel.uow import Database
from dgov.pki import keystore
from dgov.pki.agencies import Agency, agencies, agency
from dgov.pki.models import certificates as T
from dgov.pki.x509build import Kind, Urls, build_certificate, new_key, subject_name

ORG = "Nền tảng chính phủ số dgov"
Reason = Literal[
    "unspecified",
    "keyCompromise",
    "cACompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
    "certificateHold",
    "privilegeWithdrawn",
]
REASONS: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "cACompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "certificateHold": x509.ReasonFlags.certificate_hold,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
}


@dataclass(frozen=True)
class CertInfo:
    id: uuid.UUID
    kind: str
    name: str
    serial: str
    subject: str
    not_before: datetime
    not_after: datetime
    created_at: datetime
    revoked_at: datetime | None
    revocation_reason: str | None
    der: bytes
    key_file: str
    issuer_id: uuid.UUID | None

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.not_after <= clock.now():
            return "expired"
        return "valid"

    @property
    def common_name(self) -> str:
        names = self.x509().subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(names[0].value) if names else self.subject

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()

    @property
    def serial_int(self) -> int:
        return int(self.serial, 16)

    def x509(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.der)

    def pem(self) -> bytes:
        return self.x509().public_bytes(serialization.Encoding.PEM)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "serial": self.serial,
            "subject": self.subject,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "status": self.status,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revocation_reason": self.revocation_reason,
            "sha256": self.sha256,
        }


def _info(row: Any) -> CertInfo:
    return CertInfo(
        id=row.id,
        kind=row.kind,
        name=row.name,
        serial=row.serial,
        subject=row.subject,
        not_before=clock_aware(row.not_before),
        not_after=clock_aware(row.not_after),
        created_at=clock_aware(row.created_at),
        revoked_at=clock_aware(row.revoked_at) if row.revoked_at is not None else None,
        revocation_reason=row.revocation_reason,
        der=bytes(row.der),
        key_file=row.key_file,
        issuer_id=row.issuer_id,
    )


def clock_aware(value: datetime) -> datetime:
    return utcnow_naive_safe(value)


def serial_hex(n: int) -> str:
    return format(n, "x")


# ---- reads ---------------------------------------------------------------------------------------


async def current(session: AsyncSession, kind: Kind, name: str | None = None) -> CertInfo | None:
    """The newest certificate of this kind (and name) that is neither revoked nor expired."""
    q = select(T).where(T.c.kind == kind, T.c.revoked_at.is_(None), T.c.not_after > clock.now())
    if name is not None:
        q = q.where(T.c.name == name)
    row = (await session.execute(q.order_by(T.c.created_at.desc(), T.c.id.desc()).limit(1))).first()
    return _info(row) if row else None


async def by_serial(session: AsyncSession, serial: int) -> CertInfo | None:
    row = (await session.execute(select(T).where(T.c.serial == serial_hex(serial)))).first()
    return _info(row) if row else None


async def issued_by(session: AsyncSession, issuer_id: uuid.UUID) -> list[CertInfo]:
    rows = (await session.execute(select(T).where(T.c.issuer_id == issuer_id))).all()
    return [_info(r) for r in rows]


async def list_certificates(
    db: Database, *, kind: str | None = None, name: str | None = None
) -> list[CertInfo]:
    async with db.uow(readonly=True) as uow:
        q = select(T)
        if kind:
            q = q.where(T.c.kind == kind)
        if name:
            q = q.where(T.c.name == name.upper() if kind == "agency" else T.c.name == name)
        rows = (await uow.session.execute(q.order_by(T.c.created_at, T.c.id))).all()
    return [_info(r) for r in rows]


async def is_initialised(db: Database) -> bool:
    async with db.uow(readonly=True) as uow:
        return (
            await current(uow.session, "root") is not None
            and await current(uow.session, "issuing") is not None
        )


# ---- writes --------------------------------------------------------------------------------------


def _subject(kind: Kind, settings: Settings, who: Agency | None) -> x509.Name:
    if who is not None:
        return subject_name(who.name_vi, who.name_vi, "Chứng thư ký số văn bản")
    names = {
        "root": "Tổ chức chứng thực gốc dgov",
        "issuing": "Tổ chức chứng thực chữ ký số chuyên dùng dgov",
        "tsa": "Dịch vụ cấp dấu thời gian dgov",
        "ocsp": "Dịch vụ kiểm tra trạng thái chứng thư số dgov",
    }
    return subject_name(names[kind], ORG, settings.node_name)


async def _create(
    session: AsyncSession,
    settings: Settings,
    kind: Kind,
    name: str,
    *,
    issuer: CertInfo | None,
    who: Agency | None = None,
) -> CertInfo:
    key = new_key()
    cert_id = new_id()
    key_file = f"{cert_id}.key"
    # The key reaches disk before the row commits: a crash leaves an orphan file, never a row without a key.
    keystore.save_key(settings, key_file, key)
    issuer_key: ec.EllipticCurvePrivateKey = (
        key if issuer is None else keystore.load_key(settings, issuer.key_file)
    )
    cert = build_certificate(
        kind=kind,
        subject=_subject(kind, settings, who),
        public_key=key.public_key(),
        issuer=issuer.x509() if issuer is not None else None,
        issuer_key=issuer_key,
        urls=Urls(settings.issuer),
        now=clock.now(),
    )
    values: dict[str, Any] = {
        "id": cert_id,
        "kind": kind,
        "name": name,
        "issuer_id": issuer.id if issuer is not None else None,
        "serial": serial_hex(cert.serial_number),
        "subject": cert.subject.rfc4514_string(),
        "not_before": cert.not_valid_before_utc,
        "not_after": cert.not_valid_after_utc,
        "der": cert.public_bytes(serialization.Encoding.DER),
        "key_file": key_file,
        "created_at": clock.now(),
        "revoked_at": None,
        "revocation_reason": None,
    }
    await session.execute(insert(T), [values])
    return CertInfo(**values)


def _audit(actor: str, action: str, c: CertInfo, **details: Any) -> AuditEntry:
    return AuditEntry(
        actor=actor,
        action=action,
        object_type="pki_certificate",
        object_id=c.serial,
        details={"kind": c.kind, "name": c.name, "subject": c.subject, **details},
    )


async def init_pki(settings: Settings, db: Database, *, actor: str = "system:cli") -> list[CertInfo]:
    """Create whatever of the hierarchy is missing; returns what was created (empty when complete).

    The root and issuing CA are made once; the TSA, the OCSP responder and each agency get a new
    certificate only when they have no valid one (so re-running after a revocation repairs the node).
    """
    created: list[CertInfo] = []
    async with db.uow() as uow:
        s = uow.session
        if (await s.connection()).dialect.name == "postgresql":
            # Two workers initialising at once must not make two roots (SQLite's BEGIN IMMEDIATE already
            # serialises writers; PostgreSQL needs a lock for this check-then-insert).
            await s.execute(text("SELECT pg_advisory_xact_lock(7007)"))
        root = await current(s, "root")
        if root is None:
            if (await s.execute(select(T.c.id).where(T.c.kind == "root").limit(1))).first():
                raise Conflict("The root CA is revoked or expired; a new hierarchy needs a new node")
            root = await _create(s, settings, "root", "root", issuer=None)
            created.append(root)
        issuing = await current(s, "issuing")
        if issuing is None:
            issuing = await _create(s, settings, "issuing", "issuing", issuer=root)
            created.append(issuing)
        service_kinds: tuple[Kind, ...] = ("tsa", "ocsp")
        for kind in service_kinds:
            if await current(s, kind) is None:
                created.append(await _create(s, settings, kind, kind, issuer=issuing))
        for a in agencies():
            if await current(s, "agency", a.code) is None:
                created.append(await _create(s, settings, "agency", a.code, issuer=issuing, who=a))
        for c in created:
            uow.audit(_audit(actor, "pki.certificate_issued", c))
        await uow.commit()
    return created


async def ensure_initialised(settings: Settings, db: Database) -> None:
    if not await is_initialised(db):
        await init_pki(settings, db, actor="system:pki")


def _agency(code: str) -> Agency:
    a = agency(code)
    if a is None:
        raise NotFound(
            "Unknown agency {code}; known agencies: {known}",
            params={"code": code, "known": ", ".join(x.code for x in agencies())},
        )
    return a


async def issue_agency_certificate(
    settings: Settings, db: Database, code: str, *, actor: str = "system:cli"
) -> CertInfo:
    """A new signing certificate for the agency; the ones it had stay valid until revoked."""
    a = _agency(code)
    await ensure_initialised(settings, db)
    async with db.uow() as uow:
        issuing = await current(uow.session, "issuing")
        assert issuing is not None
        c = await _create(uow.session, settings, "agency", a.code, issuer=issuing, who=a)
        uow.audit(_audit(actor, "pki.certificate_issued", c))
        await uow.commit()
    return c


def _reason(reason: str) -> str:
    if reason not in REASONS:
        raise ValidationFailed(
            "Unknown revocation reason {reason}; use one of: {known}",
            params={"reason": reason, "known": ", ".join(REASONS)},
        )
    return reason


async def _revoke(uow: Any, c: CertInfo, reason: str, actor: str) -> CertInfo:
    now = clock.now()
    result = await uow.session.execute(
        update(T)
        .where(T.c.id == c.id, T.c.revoked_at.is_(None))
        .values(revoked_at=now, revocation_reason=reason)
    )
    if result.rowcount != 1:
        raise Conflict("Certificate {serial} is already revoked", params={"serial": c.serial})
    uow.audit(_audit(actor, "pki.certificate_revoked", c, reason=reason))
    uow.publish(
        "pki.certificate_revoked",
        {"serial": c.serial, "kind": c.kind, "name": c.name, "reason": reason, "revoked_at": now.isoformat()},
        key=c.serial,
    )
    return CertInfo(**{**c.__dict__, "revoked_at": now, "revocation_reason": reason})


async def revoke_agency_certificate(
    _settings: Settings,  # kept in the public signature; the agency's keys are in the database
    db: Database,
    code: str,
    *,
    reason: str = "unspecified",
    serial: str | None = None,
    actor: str = "system:cli",
) -> CertInfo:
    """Revoke the agency's current signing certificate (or the one with `serial`)."""
    a = _agency(code)
    _reason(reason)
    async with db.uow() as uow:
        if serial is not None:
            c = await by_serial(uow.session, int(serial, 16))
            if c is None or c.kind != "agency" or c.name != a.code:
                raise NotFound(
                    "Agency {code} has no certificate with serial {serial}",
                    params={"code": a.code, "serial": serial},
                )
        else:
            c = await current(uow.session, "agency", a.code)
            if c is None:
                raise NotFound("Agency {code} has no valid signing certificate", params={"code": a.code})
        revoked = await _revoke(uow, c, reason, actor)
        await uow.commit()
    return revoked


async def rotate_agency_certificate(
    settings: Settings, db: Database, code: str, *, actor: str = "system:cli"
) -> tuple[CertInfo, CertInfo | None]:
    """A new key and certificate for the agency; the previous one is revoked as superseded.

    Documents signed before the rotation stay valid: their embedded revocation data and timestamp
    prove the certificate was good when they were signed (and `superseded` is not a compromise).
    """
    a = _agency(code)
    await ensure_initialised(settings, db)
    async with db.uow() as uow:
        s = uow.session
        old = await current(s, "agency", a.code)
        issuing = await current(s, "issuing")
        assert issuing is not None
        new = await _create(s, settings, "agency", a.code, issuer=issuing, who=a)
        uow.audit(_audit(actor, "pki.certificate_issued", new, rotation=True))
        revoked = await _revoke(uow, old, "superseded", actor) if old is not None else None
        await uow.commit()
    return new, revoked
