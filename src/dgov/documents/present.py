"""JSON shapes shared by the CLI and the API (a public contract: keep the keys stable)."""

from __future__ import annotations

from typing import Any

from dgov.documents import service
from dgov.documents.templates_catalog import catalog
from dgov.documents.verify import SignatureCheck
from dgov.kernel.i18n import gettext as _


def templates_json() -> list[dict[str, Any]]:
    return [
        {
            "name": t.name,
            "title": t.title,
            "agency": t.agency,
            "legal_basis": t.legal_basis,
            "fields": t.fields(),
            "schema": t.schema,
            "example": t.example,
        }
        for t in catalog().values()
    ]


def verification_json(v: service.Verification) -> dict[str, Any]:
    sig = v.verdict.signature
    doc = v.document
    return {
        "valid": v.valid,
        "reasons": v.verdict.reason_codes,
        "messages": [_(m) for m in v.verdict.reasons],
        "sha256": v.verdict.sha256,
        "signature": None
        if sig is None
        else {
            "agency": sig.signer_organisation or sig.signer_subject,
            "signer": sig.signer_subject,
            "certificate_serial": sig.signer_serial,
            "certificate_status": cert_status(sig),
            "signed_at": sig.signed_at.isoformat() if sig.signed_at else None,
            "timestamp_valid": sig.timestamp_valid,
            "intact": sig.intact,
            "covers_whole_file": sig.covers_whole_file,
            "revocation_info_embedded": sig.revocation_info_embedded,
        },
        "document": None
        if doc is None
        else {
            "code": doc.code,
            "title": doc.title,
            "template": doc.template,
            "agency": doc.agency,
            "agency_name": doc.agency_name,
            "status": doc.status,
            "issued_at": doc.created_at.isoformat(),
            "matches_registered_copy": v.matches_registered,
            "summary": v.summary,
        },
        "code": doc.code if doc else (sig.code if sig else None),
    }


def cert_status(sig: SignatureCheck) -> str:
    """good | revoked | untrusted, or unknown when the signature itself is broken (the certificate's
    status is then not what makes the document invalid, and pyHanko does not evaluate it)."""
    if sig.revoked:
        return "revoked"
    if not sig.intact:
        return "unknown"
    return "good" if sig.trusted else "untrusted"
