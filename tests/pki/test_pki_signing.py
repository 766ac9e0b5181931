"""The API the documents domain builds on, end to end: sign a PDF as PAdES B-LT with an agency's
material, validate it with pyHanko trusting only the exported root, then revoke and see it fail."""

from __future__ import annotations

from io import BytesIO

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pki_support import sign, tiny_pdf
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore

from dgov.kernel.config import Settings
from dgov.kernel.uow import Database
from dgov.pki import (
    agencies,
    certificate_status,
    revoke_agency_certificate,
    root_certificate_pem,
    signing_material,
    validation_context,
)


def load_root(pem_bytes: bytes) -> asn1_x509.Certificate:
    _type, _headers, der = pem.unarmor(pem_bytes)
    return asn1_x509.Certificate.load(der)


async def test_agencies_have_vietnamese_names() -> None:
    codes = {a.code: a for a in agencies()}
    assert {"BTP", "BCA", "BHXH", "BGDDT", "BTC", "BNNMT"} <= set(codes)
    assert codes["BTP"].name_vi == "Bộ Tư pháp"


async def test_pades_b_lt_valid_with_only_the_root_then_revoked(settings: Settings, db: Database) -> None:
    material = await signing_material(settings, db, "BTP")
    assert material.agency_name == "Bộ Tư pháp"
    assert material.certificate.subject.native["organization_name"] == "Bộ Tư pháp"
    signed = await sign(material, tiny_pdf())

    root = load_root(await root_certificate_pem(settings, db))
    reader = PdfFileReader(BytesIO(signed))
    embedded = reader.embedded_signatures[0]
    # Only what the PDF carries (its DSS) plus the root: proves B-LT embedded the chain and status.
    dss = DocumentSecurityStore.read_dss(reader)
    assert dss.ocsps and dss.crls
    offline = dss.as_validation_context(
        {"trust_roots": [root], "allow_fetching": False, "revocation_mode": "require"}
    )
    status = await async_validate_pdf_signature(embedded, offline, ts_validation_context=offline)
    assert status.bottom_line, status.pretty_print_details()
    assert status.timestamp_validity is not None and status.timestamp_validity.valid
    assert status.timestamp_validity.trusted
    assert status.signing_cert.subject.native["common_name"] == "Bộ Tư pháp"

    # With the node's current status, the same document is valid…
    vc = await validation_context(settings, db)
    status = await async_validate_pdf_signature(embedded, vc)
    assert status.bottom_line

    # …until the agency's certificate is revoked.
    await revoke_agency_certificate(settings, db, "BTP", reason="keyCompromise")
    vc = await validation_context(settings, db)
    status = await async_validate_pdf_signature(embedded, vc)
    assert not status.bottom_line
    assert status.revoked
    # The verifier can say when and why.
    info = await certificate_status(db, material.serial)
    assert info is not None and info.status == "revoked" and info.revocation_reason == "keyCompromise"
    assert await certificate_status(db, 12345) is None


async def test_one_byte_tamper_is_detected(settings: Settings, db: Database) -> None:
    material = await signing_material(settings, db, "BCA")
    signed = bytearray(await sign(material, tiny_pdf("Ban goc")))
    at = signed.index(b"Ban goc")
    signed[at] = ord("C")
    embedded = PdfFileReader(BytesIO(bytes(signed))).embedded_signatures[0]
    status = await async_validate_pdf_signature(embedded, await validation_context(settings, db))
    assert not status.intact
    assert not status.bottom_line
