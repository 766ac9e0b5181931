"""Checking a signed PDF with pyHanko's validator against the node's PKI: is the signature intact,
does its certificate chain to the root, was the certificate good (not revoked), when was it
timestamped, is revocation information embedded, and does the signature cover the whole file."""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from dgov.documents.signing import code_from_field
from dgov.documents.storage import sha256_of
from dgov.kernel.errors import FieldError, ValidationFailed
from dgov.pki import TrustMaterial

# pyHanko logs every failed validation (and every suspicious incremental update) with a traceback; a
# tampered or revoked document is an answer this module reports, not an error of the node.
logging.getLogger("pyhanko.sign.validation.generic_cms").setLevel(logging.CRITICAL)
logging.getLogger("pyhanko.sign.diff_analysis").setLevel(logging.CRITICAL)


def N_(message: str) -> str:
    """Marks a msgid for extraction; pages and the CLI translate reasons when they show them."""
    return message


# Reasons are English msgids (translated where shown); `reason_codes` are stable for machines.
REASONS: dict[str, str] = {
    "not_pdf": N_("The file is not a PDF document"),
    "damaged": N_("The PDF file is damaged and cannot be read"),
    "unsigned": N_("The document carries no digital signature"),
    "tampered": N_("The document was changed after it was signed"),
    "not_covered": N_("Content was added to the document after it was signed"),
    "untrusted": N_("The signing certificate is not issued by this platform's root certificate authority"),
    "revoked": N_("The signing certificate has been revoked"),
    "no_timestamp": N_("The signature has no valid timestamp"),
    "unregistered": N_("The document is not registered on this platform"),
    "document_revoked": N_("The issuing agency has withdrawn this document"),
    "invalid": N_("The signature is not valid"),
}


@dataclass
class SignatureCheck:
    field: str
    intact: bool
    trusted: bool
    revoked: bool
    covers_whole_file: bool
    signer_subject: str = ""
    signer_organisation: str = ""
    signer_serial: str = ""
    signed_at: datetime | None = None  # from the timestamp token
    timestamp_valid: bool = False
    revocation_info_embedded: bool = False
    code: str | None = None


@dataclass
class Verdict:
    valid: bool
    sha256: str
    reason_codes: list[str] = field(default_factory=list)
    signatures: list[SignatureCheck] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        return [REASONS[c] for c in self.reason_codes]

    @property
    def signature(self) -> SignatureCheck | None:
        return self.signatures[0] if self.signatures else None


def _name(cert: asn1_x509.Certificate, attr: str) -> str:
    value = cert.subject.native.get(attr, "")
    return str(value[0] if isinstance(value, list) else value)


def _has_dss(reader: PdfFileReader) -> bool:
    dss: Any = reader.root.get("/DSS")
    if dss is None:
        return False
    dss = dss.get_object()
    return bool(dss.get("/OCSPs") or dss.get("/CRLs"))


def too_many_signatures(limit: int) -> ValidationFailed:
    return ValidationFailed(
        "The document cannot be verified",
        errors=[
            FieldError(
                ("file",),
                "The document has more than {limit} signature fields; it is not verified",
                {"limit": limit},
            )
        ],
    )


def _count_signature_fields(reader: PdfFileReader, limit: int) -> int:
    """Signature fields, counted up to limit + 1: each one costs a validation and a comparison of every
    later revision (200 fields pointing at one signature took 10 s), so a file with more is refused
    before anything is validated."""
    count = 0
    for _field in enumerate_sig_fields(reader, filled_status=None):
        count += 1
        if count > limit:
            break
    return count


async def check(data: bytes, vc: ValidationContext, *, max_signatures: int | None = None) -> Verdict:
    """The verdict on `data`; ValidationFailed when it has more than `max_signatures` signature fields."""
    verdict = Verdict(valid=False, sha256=sha256_of(data))
    if not data.startswith(b"%PDF-"):
        verdict.reason_codes.append("not_pdf")
        return verdict
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if max_signatures is not None and _count_signature_fields(reader, max_signatures) > max_signatures:
            raise too_many_signatures(max_signatures)
        sigs = reader.embedded_regular_signatures
    except (PdfError, ValueError, KeyError, TypeError, IndexError, RecursionError) as exc:
        del exc
        verdict.reason_codes.append("damaged")
        return verdict
    if not sigs:
        verdict.reason_codes.append("unsigned")
        return verdict
    dss = _has_dss(reader)
    for sig in sigs:
        sc = SignatureCheck(
            field=sig.field_name,
            intact=False,
            trusted=False,
            revoked=False,
            covers_whole_file=False,
            code=code_from_field(sig.field_name),
            revocation_info_embedded=dss,
        )
        verdict.signatures.append(sc)
        try:
            cert = sig.signer_cert
            sc.signer_subject = _name(cert, "common_name")
            sc.signer_organisation = _name(cert, "organization_name")
            sc.signer_serial = format(cert.serial_number, "x")
            status = await async_validate_pdf_signature(
                sig, signer_validation_context=vc, ts_validation_context=vc
            )
        except (PdfError, ValueError, TypeError, KeyError, IndexError, AttributeError):  # pyHanko's and
            # asn1crypto's errors on a damaged or altered signature are ValueErrors or PdfErrors; the rest
            # are what malformed objects raise while walked
            verdict.reason_codes.append("tampered")
            continue
        sc.intact = bool(status.intact and status.valid)
        sc.trusted = bool(status.trusted)
        sc.revoked = bool(status.revoked)
        sc.covers_whole_file = status.coverage == SignatureCoverageLevel.ENTIRE_FILE or (
            status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
            and status.modification_level is not None
            and status.modification_level.name in ("NONE", "LTA_UPDATES")
        )
        ts = status.timestamp_validity
        if ts is not None:
            sc.signed_at = ts.timestamp
            sc.timestamp_valid = bool(ts.intact and ts.valid and ts.trusted)
        if not sc.intact:
            verdict.reason_codes.append("tampered")
        elif sc.revoked:
            verdict.reason_codes.append("revoked")
        elif not sc.trusted:
            verdict.reason_codes.append("untrusted")
        if sc.intact and not sc.covers_whole_file:
            verdict.reason_codes.append("not_covered")
        if sc.intact and not sc.timestamp_valid:
            verdict.reason_codes.append("no_timestamp")
    verdict.reason_codes = list(dict.fromkeys(verdict.reason_codes))
    verdict.valid = not verdict.reason_codes
    return verdict


def check_in_worker(data: bytes, material: TrustMaterial, max_signatures: int) -> Verdict:
    """`check` in a worker process (see kernel/workers.py): the validation context is rebuilt from DER,
    as pyHanko's does not pickle."""
    return asyncio.run(check(data, material.context(), max_signatures=max_signatures))
