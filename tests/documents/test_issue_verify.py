"""Issued documents: rendered, signed PAdES B-LT by the agency with a timestamp from the node TSA, and
checked with pyHanko's own validator trusting only the exported root; a one-byte change and a revoked
certificate are reported invalid with the reason."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from docskit import AN, BINH, official
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore

from dgov.documents import DocumentsContext, catalog, lookup, store_issued, template, verify
from dgov.documents.templates_catalog import pick
from dgov.documents.uploads import detect
from dgov.identity import SYSTEM
from dgov.kernel.errors import Forbidden, ValidationFailed
from dgov.pki import revoke_agency_certificate, root_certificate_pem

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "screenshots" / "birth-certificate.png"


def load_root(pem_bytes: bytes) -> asn1_x509.Certificate:
    _type, _headers, der = pem.unarmor(pem_bytes)
    return asn1_x509.Certificate.load(der)


async def test_birth_certificate_is_pades_b_lt_valid_against_only_the_root(docs: DocumentsContext) -> None:
    t = template("birth-certificate")
    issued = await store_issued(docs, SYSTEM, template_name=t.name, data=t.example, holders=[AN, BINH])
    assert issued.document.agency == "UBND-BADINH" and issued.holders == (AN, BINH)

    root = load_root(await root_certificate_pem(docs.settings, docs.db))
    reader = PdfFileReader(io.BytesIO(issued.pdf))
    [sig] = reader.embedded_signatures
    # B-LT: the chain's CRLs and OCSP responses are in the PDF's DSS; validating with nothing but the
    # root and what the file carries proves they are complete (no fetching allowed).
    dss = DocumentSecurityStore.read_dss(reader)
    assert dss.ocsps and dss.crls
    offline = dss.as_validation_context(
        {"trust_roots": [root], "allow_fetching": False, "revocation_mode": "require"}
    )
    status = await async_validate_pdf_signature(sig, offline, ts_validation_context=offline)
    assert status.bottom_line, status.pretty_print_details()
    assert status.intact and status.valid and status.trusted
    # The DSS is a later incremental update that PAdES allows (LTA updates): nothing else was added.
    assert status.coverage.name == "ENTIRE_REVISION" and status.modification_level.name == "LTA_UPDATES"
    ts = status.timestamp_validity
    assert ts is not None and ts.valid and ts.intact and ts.trusted
    assert status.signing_cert.subject.native["organization_name"] == "Ủy ban nhân dân phường Ba Đình"
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES, not adbe.pkcs7

    # The node's own verification agrees, names the agency, the time and the registered document.
    v = await verify(docs, issued.pdf)
    assert v.valid and v.verdict.reason_codes == []
    s = v.verdict.signature
    assert s is not None and s.signed_at is not None and s.timestamp_valid and s.revocation_info_embedded
    assert s.signer_organisation == "Ủy ban nhân dân phường Ba Đình"
    assert v.document is not None and v.document.code == issued.document.code and v.matches_registered
    summary = {r["field"]: r["value"] for r in v.summary}
    assert summary["child.full_name"] == "Nguyễn Minh Khang"
    assert summary["child.id_number"] == "001******345"  # masked on public answers

    # A signed certificate from the wallet is an acceptable upload for a later dossier.
    assert detect(issued.pdf, filename="khai-sinh.pdf", declared_type="application/pdf", max_bytes=10**7)


async def test_one_byte_changed_is_reported_tampered(docs: DocumentsContext) -> None:
    t = template("birth-certificate")
    issued = await store_issued(docs, SYSTEM, template_name=t.name, data=t.example, holders=[AN])
    reader = PdfFileReader(io.BytesIO(issued.pdf))
    start, length = (int(x) for x in list(reader.embedded_signatures[0].byte_range)[:2])  # first signed range
    for offset in (start + length // 2, len(issued.pdf) - 40):
        altered = bytearray(issued.pdf)
        altered[offset] ^= 0x01
        v = await verify(docs, bytes(altered))
        assert not v.valid, offset
        assert v.verdict.reason_codes and v.verdict.reason_codes[0] in ("tampered", "damaged"), (
            v.verdict.reason_codes
        )
        assert not v.matches_registered


async def test_revoked_agency_certificate_makes_the_document_invalid(docs: DocumentsContext) -> None:
    t = template("residence-confirmation")
    issued = await store_issued(docs, SYSTEM, template_name=t.name, data=t.example, holders=[AN])
    assert (await verify(docs, issued.pdf)).valid
    await revoke_agency_certificate(docs.settings, docs.db, "CA-BADINH", reason="keyCompromise")
    v = await verify(docs, issued.pdf)
    assert not v.valid and "revoked" in v.verdict.reason_codes
    assert v.verdict.signature is not None and v.verdict.signature.revoked
    assert "The signing certificate has been revoked" in v.verdict.reasons


async def test_every_template_issues_with_its_example_and_with_only_required_fields(
    docs: DocumentsContext,
) -> None:
    for t in catalog().values():
        minimal = _required_only(t.schema, t.schema, t.example)
        for data in (t.example, minimal):
            issued = await store_issued(docs, SYSTEM, template_name=t.name, data=data, holders=[AN])
            assert issued.document.agency == t.agency
            v = await verify(docs, issued.pdf)
            assert v.valid, (t.name, v.verdict.reason_codes)
            assert (await lookup(docs, issued.document.code)).status == "valid"


def _required_only(root: dict, node: dict, value: object) -> object:
    if "$ref" in node:
        target = root
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    if isinstance(value, dict) and "properties" in node:
        req = set(node.get("required", []))
        return {k: _required_only(root, node["properties"][k], v) for k, v in value.items() if k in req}
    return copy.deepcopy(value)


async def test_bad_data_and_unauthorised_issuers_are_refused(docs: DocumentsContext) -> None:
    t = template("birth-certificate")
    bad = copy.deepcopy(t.example)
    bad["child"]["id_number"] = "12345"
    with pytest.raises(ValidationFailed) as info:
        await store_issued(docs, SYSTEM, template_name=t.name, data=bad, holders=[AN])
    assert info.value.errors[0].loc == ("child", "id_number")
    with pytest.raises(ValidationFailed):
        await store_issued(docs, SYSTEM, template_name=t.name, data=t.example, holders=[AN], agency="NOPE")
    residence = official("residence_officer", "BCA", "00004")
    with pytest.raises(Forbidden):  # a residence officer does not issue birth certificates
        await store_issued(docs, residence, template_name=t.name, data=t.example, holders=[AN])
    civil = official("civil_status_officer", "BTP", "00004")
    issued = await store_issued(docs, civil, template_name=t.name, data=t.example, holders=[AN])
    assert pick(issued.document.data, "child.full_name") == "Nguyễn Minh Khang"
    with pytest.raises(Forbidden):  # level 1 is not enough to sign in an agency's name
        await store_issued(
            docs,
            official("civil_status_officer", "BTP", "00004", level=1),
            template_name=t.name,
            data=t.example,
            holders=[AN],
        )


async def test_birth_certificate_page_renders_with_vietnamese_text(docs: DocumentsContext) -> None:
    """Renders page 1 (with the signature appearance) to PNG for docs/screenshots, and checks the text
    layer: every Vietnamese word comes back out of the PDF exactly as written."""
    t = template("birth-certificate")
    issued = await store_issued(docs, SYSTEM, template_name=t.name, data=t.example, holders=[AN])
    pdf = pdfium.PdfDocument(issued.pdf)
    try:
        pdf.init_forms()
        page = pdf[0]
        text = page.get_textpage().get_text_range()
        for expected in (
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
            "Độc lập - Tự do - Hạnh phúc",
            "TRÍCH LỤC KHAI SINH",
            "NGUYỄN MINH KHANG",
            "Bệnh viện Phụ sản Hà Nội",
            "Số định danh cá nhân",
            "Ủy ban nhân dân phường Ba Đình",
            issued.document.code,
        ):
            assert expected in text, expected
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.render(scale=1.6, may_draw_forms=True).to_pil().save(SCREENSHOT)
    finally:
        pdf.close()
    assert SCREENSHOT.stat().st_size > 20_000
