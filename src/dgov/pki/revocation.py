"""Certificate status: CRLs (RFC 5280 §5) and the OCSP responder (RFC 6960), built fresh from the database.

Both are signed on request: a revocation is visible to the next validator at once, with no publishing
step to forget. The issuing CA's certificates are answered by the delegated OCSP responder; the root's
one child (the issuing CA) by the root itself, which RFC 6960 §4.2.2.2 also allows.

Each answer reads one `Snapshot` (a single query: the CA and service certificates, every revoked
certificate, and the one certificate asked about), then signs in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from asn1crypto import keys as asn1_keys
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dgov.kernel import clock
from dgov.kernel.config import Settings
from dgov.pki import keystore
from dgov.pki.models import certificates as T
from dgov.pki.service import REASONS, CertInfo, _info, serial_hex

CRL_VALIDITY = timedelta(days=1)
OCSP_VALIDITY = timedelta(hours=4)
CA_NAMES = ("root", "issuing")


class NotInitialised(RuntimeError):
    pass


@dataclass(frozen=True)
class Snapshot:
    certs: tuple[CertInfo, ...]
    at: datetime

    def current(self, kind: str, name: str | None = None) -> CertInfo | None:
        """The newest certificate of this kind (and name) neither revoked nor expired."""
        found = [
            c
            for c in self.certs
            if c.kind == kind
            and (name is None or c.name == name)
            and c.revoked_at is None
            and c.not_after > self.at
        ]
        return max(found, key=lambda c: (c.created_at, c.id)) if found else None

    def revoked_under(self, issuer: CertInfo) -> list[CertInfo]:
        return sorted(
            (c for c in self.certs if c.issuer_id == issuer.id and c.revoked_at is not None),
            key=lambda c: c.revoked_at or self.at,
        )

    def find(self, serial: int, issuer: CertInfo) -> CertInfo | None:
        hexed = serial_hex(serial)
        return next((c for c in self.certs if c.serial == hexed and c.issuer_id == issuer.id), None)

    @property
    def initialised(self) -> bool:
        return self.current("root") is not None and self.current("issuing") is not None


async def snapshot(
    session: AsyncSession, *, agency: str | None = None, serial: int | None = None
) -> Snapshot:
    """The CAs, TSA and OCSP certificates, every revoked certificate, plus `agency`'s or `serial`'s."""
    wanted = [T.c.kind != "agency", T.c.revoked_at.is_not(None)]
    if agency is not None:
        wanted.append(T.c.name == agency)
    if serial is not None:
        wanted.append(T.c.serial == serial_hex(serial))
    rows = (await session.execute(select(T).where(or_(*wanted)))).all()
    return Snapshot(tuple(_info(r) for r in rows), clock.now())


@dataclass(frozen=True)
class Authority:
    """A CA with its key, and whoever answers OCSP for it."""

    cert: CertInfo
    key: ec.EllipticCurvePrivateKey
    responder: CertInfo
    responder_key: ec.EllipticCurvePrivateKey

    @property
    def x509(self) -> x509.Certificate:
        return self.cert.x509()


def authority(state: Snapshot, settings: Settings, ca: str) -> Authority:
    cert = state.current("root" if ca == "root" else "issuing")
    if cert is None:
        raise NotInitialised("the PKI is not initialised (dgov pki init)")
    key = keystore.load_key(settings, cert.key_file)
    if ca == "root":
        return Authority(cert, key, cert, key)
    responder = state.current("ocsp")
    if responder is None:
        raise NotInitialised("the node has no valid OCSP responder certificate (dgov pki init)")
    return Authority(cert, key, responder, keystore.load_key(settings, responder.key_file))


def _crl_number(now: datetime) -> int:
    # Monotonic across restarts and nodes sharing a database, without a counter to keep.
    return int(now.timestamp() * 1_000_000)


def build_crl(ca: Authority, revoked: list[CertInfo], now: datetime) -> x509.CertificateRevocationList:
    b = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.x509.subject)
        .last_update(now)
        .next_update(now + CRL_VALIDITY)
        .add_extension(x509.CRLNumber(_crl_number(now)), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    for c in revoked:
        assert c.revoked_at is not None
        entry = x509.RevokedCertificateBuilder().serial_number(c.serial_int).revocation_date(c.revoked_at)
        reason = REASONS.get(c.revocation_reason or "unspecified", x509.ReasonFlags.unspecified)
        # RFC 5280 §5.3.1: leave the reason code out rather than say "unspecified".
        if reason is not x509.ReasonFlags.unspecified:
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        b = b.add_revoked_certificate(entry.build())
    return b.sign(ca.key, hashes.SHA256())


def crl_from(state: Snapshot, settings: Settings, ca: str) -> bytes:
    if ca not in CA_NAMES:
        raise KeyError(ca)
    auth = authority(state, settings, ca)
    crl = build_crl(auth, state.revoked_under(auth.cert), clock.now())
    return crl.public_bytes(serialization.Encoding.DER)


async def crl_der(session: AsyncSession, settings: Settings, ca: str) -> bytes:
    return crl_from(await snapshot(session), settings, ca)


def _hashes(cert: x509.Certificate, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    name = hashes.Hash(algorithm)
    name.update(cert.subject.public_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # RFC 6960 §4.1.1: the key hash covers the BIT STRING's contents only, not the whole SPKI.
    key_bits = asn1_keys.PublicKeyInfo.load(spki)["public_key"].contents[1:]
    key = hashes.Hash(algorithm)
    key.update(key_bits)
    return name.finalize(), key.finalize()


def parse_ocsp_request(request_der: bytes) -> ocsp.OCSPRequest | None:
    try:
        req = ocsp.load_der_ocsp_request(request_der)
        req.hash_algorithm  # noqa: B018 - an unsupported algorithm fails here, not while answering
    except (ValueError, UnsupportedAlgorithm):
        # Anything unparsable, including requests for several certificates at once (not supported).
        return None
    return req


def ocsp_from(state: Snapshot, settings: Settings, req: ocsp.OCSPRequest | None) -> bytes:
    """Answer one OCSP request: good, revoked or unknown, signed by the responder, nonce echoed."""
    if req is None:
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    algorithm = req.hash_algorithm
    try:
        authorities = [authority(state, settings, ca) for ca in ("issuing", "root")]
    except NotInitialised:
        return _unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER)
    auth = next(
        (a for a in authorities if _hashes(a.x509, algorithm) == (req.issuer_name_hash, req.issuer_key_hash)),
        None,
    )
    if auth is None:
        return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    subject = state.find(req.serial_number, auth.cert)
    now = clock.now()
    if subject is None:
        status, rev_time, rev_reason = ocsp.OCSPCertStatus.UNKNOWN, None, None
    elif subject.revoked_at is not None:
        status, rev_time = ocsp.OCSPCertStatus.REVOKED, subject.revoked_at
        rev_reason = REASONS.get(subject.revocation_reason or "unspecified")
    else:
        status, rev_time, rev_reason = ocsp.OCSPCertStatus.GOOD, None, None
    b = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=req.issuer_name_hash,
        issuer_key_hash=req.issuer_key_hash,
        serial_number=req.serial_number,
        algorithm=algorithm,
        cert_status=status,
        this_update=now,
        next_update=now + OCSP_VALIDITY,
        revocation_time=rev_time,
        revocation_reason=rev_reason,
    )
    responder = auth.responder.x509()
    b = b.responder_id(ocsp.OCSPResponderEncoding.HASH, responder)
    if auth.responder.id != auth.cert.id:
        b = b.certificates([responder])
    try:
        nonce = req.extensions.get_extension_for_class(x509.OCSPNonce).value
        b = b.add_extension(nonce, critical=False)
    except x509.ExtensionNotFound:
        pass
    return b.sign(auth.responder_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


async def ocsp_response_der(session: AsyncSession, settings: Settings, request_der: bytes) -> bytes:
    req = parse_ocsp_request(request_der)
    state = await snapshot(session, serial=req.serial_number if req is not None else None)
    return ocsp_from(state, settings, req)


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)


def ocsp_request_for(
    cert: x509.Certificate, issuer: x509.Certificate, *, nonce: bytes | None = None
) -> bytes:
    b = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256())
    if nonce is not None:
        b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
    return b.build().public_bytes(serialization.Encoding.DER)
