"""What the documents domain signs and verifies with: keys, chain, time stamper and validation contexts.

Everything is assembled in-process from the database and `var/keys/pki/`: signing a document needs no
running server, and revocation data is fresh at the moment of signing (so PAdES B-LT embeds it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.sign.signers import SimpleSigner
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from dgov.kernel.config import Settings
from dgov.kernel.errors import Conflict, NotFound
from dgov.kernel.uow import Database
from dgov.pki import keystore
from dgov.pki.agencies import Agency, agency
from dgov.pki.revocation import (
    CA_NAMES,
    Snapshot,
    crl_from,
    ocsp_from,
    ocsp_request_for,
    parse_ocsp_request,
    snapshot,
)
from dgov.pki.service import CertInfo, ensure_initialised
from dgov.pki.tsa import NodeTimeStamper, TsaSigner

FETCH_TOLERANCE = timedelta(minutes=2)


@dataclass(frozen=True)
class SigningMaterial:
    agency: Agency
    agency_name: str
    certificate: asn1_x509.Certificate
    # issuing CA then root, for embedding in signatures
    chain: tuple[asn1_x509.Certificate, ...]
    signer: SimpleSigner
    timestamper: TimeStamper
    validation_context: ValidationContext
    serial: str


def to_asn1(cert: CertInfo) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.der)


def _private_key_info(key: ec.EllipticCurvePrivateKey) -> asn1_keys.PrivateKeyInfo:
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return asn1_keys.PrivateKeyInfo.load(der)


async def _snapshot(settings: Settings, db: Database, *, agency: str | None = None) -> Snapshot:
    """The PKI as it is now, initialising it first on a node that has none yet."""
    async with db.uow(readonly=True) as uow:
        state = await snapshot(uow.session, agency=agency)
    if state.initialised:
        return state
    await ensure_initialised(settings, db)
    async with db.uow(readonly=True) as uow:
        return await snapshot(uow.session, agency=agency)


def _hierarchy(state: Snapshot) -> tuple[CertInfo, CertInfo]:
    root, issuing = state.current("root"), state.current("issuing")
    if root is None or issuing is None:
        raise Conflict("The PKI is not initialised; run dgov pki init")
    return root, issuing


def _ocsp_for(state: Snapshot, settings: Settings, cert: CertInfo, issuing: CertInfo) -> bytes:
    return ocsp_from(state, settings, parse_ocsp_request(ocsp_request_for(cert.x509(), issuing.x509())))


async def signing_material(settings: Settings, db: Database, agency_code: str) -> SigningMaterial:
    """The agency's current key and certificate, the node TSA, and a validation context with fresh
    CRLs and OCSP responses for the whole chain (trusting only the root, fetching nothing)."""
    who = agency(agency_code)
    if who is None:
        raise NotFound("Unknown agency {code}", params={"code": agency_code})
    state = await _snapshot(settings, db, agency=who.code)
    root, issuing = _hierarchy(state)
    cert = state.current("agency", who.code)
    if cert is None:
        raise Conflict(
            "Agency {code} has no valid signing certificate; issue one with dgov pki issue",
            params={"code": who.code},
        )
    tsa = state.current("tsa")
    if tsa is None:
        raise Conflict("The node has no valid time-stamping certificate; run dgov pki init")
    crls = [crl_from(state, settings, ca) for ca in CA_NAMES]
    ocsps = [_ocsp_for(state, settings, c, issuing) for c in (cert, tsa)]
    root_a, issuing_a, cert_a = to_asn1(root), to_asn1(issuing), to_asn1(cert)
    signer = SimpleSigner(
        signing_cert=cert_a,
        signing_key=_private_key_info(keystore.load_key(settings, cert.key_file)),
        cert_registry=SimpleCertificateStore.from_certs([issuing_a, root_a]),  # type: ignore[no-untyped-call]
    )
    timestamper = NodeTimeStamper(
        TsaSigner(cert=to_asn1(tsa), key=keystore.load_key(settings, tsa.key_file), chain=(issuing_a,))
    )
    vc = ValidationContext(
        trust_roots=[root_a],
        other_certs=[issuing_a],
        crls=crls,
        ocsps=ocsps,
        allow_fetching=False,
        revocation_mode="require",
    )
    return SigningMaterial(
        agency=who,
        agency_name=who.name_vi,
        certificate=cert_a,
        chain=(issuing_a, root_a),
        signer=signer,
        timestamper=timestamper,
        validation_context=vc,
        serial=cert.serial,
    )


@dataclass(frozen=True)
class TrustMaterial:
    """What a (non-fetching) validation context is made of, as DER bytes. pyHanko's ValidationContext
    does not survive pickling, so verification in a worker process gets this and builds its own."""

    roots: tuple[bytes, ...]
    others: tuple[bytes, ...]
    crls: tuple[bytes, ...]

    def context(self) -> ValidationContext:
        return ValidationContext(
            trust_roots=[asn1_x509.Certificate.load(d) for d in self.roots],
            other_certs=[asn1_x509.Certificate.load(d) for d in self.others],
            crls=list(self.crls),
            allow_fetching=False,
            revocation_mode="require",
        )


async def trust_material(settings: Settings, db: Database) -> TrustMaterial:
    """The root to trust, the issuing CA and fresh CRLs, as the database has them now."""
    state = await _snapshot(settings, db)
    root, issuing = _hierarchy(state)
    return TrustMaterial(
        roots=(root.der,), others=(issuing.der,), crls=tuple(crl_from(state, settings, ca) for ca in CA_NAMES)
    )


async def validation_context(settings: Settings, db: Database, *, fetch: bool = False) -> ValidationContext:
    """For verifying documents: trusts only the root; certificate status from the database as it is now
    (a revoked agency certificate shows as revoked). With `fetch=True`, status and missing CA
    certificates are fetched from the URLs in the certificates instead, as an outside validator would."""
    state = await _snapshot(settings, db)
    root, issuing = _hierarchy(state)
    if fetch:
        return ValidationContext(
            trust_roots=[to_asn1(root)],
            allow_fetching=True,
            revocation_mode="require",
            # The validation time is fixed when the context is made, and a CRL or OCSP response fetched
            # later is stamped later: beyond the 1 s default tolerance pyhanko-certvalidator calls it
            # "too new" and the check fails on a slow network or a busy node.
            time_tolerance=FETCH_TOLERANCE,
        )
    return TrustMaterial(
        roots=(root.der,), others=(issuing.der,), crls=tuple(crl_from(state, settings, ca) for ca in CA_NAMES)
    ).context()


async def root_certificate_pem(settings: Settings, db: Database) -> bytes:
    root, _issuing = _hierarchy(await _snapshot(settings, db))
    return root.pem()


async def ca_certificate(settings: Settings, db: Database, ca: str) -> CertInfo:
    """The current certificate of `root`, `issuing`, `tsa` or `ocsp`."""
    if ca not in ("root", "issuing", "tsa", "ocsp"):
        raise NotFound("Unknown CA {ca}", params={"ca": ca})
    c = (await _snapshot(settings, db)).current(ca)
    if c is None:
        raise NotFound("Unknown CA {ca}", params={"ca": ca})
    return c


async def tsa_signer(settings: Settings, db: Database) -> TsaSigner:
    state = await _snapshot(settings, db)
    tsa, issuing = state.current("tsa"), state.current("issuing")
    if tsa is None or issuing is None:
        raise Conflict("The node has no valid time-stamping certificate; run dgov pki init")
    return TsaSigner(
        cert=to_asn1(tsa), key=keystore.load_key(settings, tsa.key_file), chain=(to_asn1(issuing),)
    )


async def certificate_status(db: Database, serial: str | int) -> CertInfo | None:
    """Any certificate the node issued, by serial (hex text or integer), with its revocation state:
    what a verifier reports as "revoked on … (keyCompromise)". None if this node never issued it."""
    number = serial if isinstance(serial, int) else int(serial, 16)
    async with db.uow(readonly=True) as uow:
        state = await snapshot(uow.session, serial=number)
    return next((c for c in state.certs if c.serial_int == number), None)
