"""Public verification: a PDF checked against the node's PKI and matched with the registered document,
and what anyone holding a document code may see (a summary with ID numbers masked)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dgov import pki
from dgov.documents import render
from dgov.documents.models import documents, versions
from dgov.documents.records import DocumentInfo, DocumentsContext, get_document, info_of, joined
from dgov.documents.templates_catalog import template
from dgov.documents.verify import Verdict, check, check_in_worker
from dgov.kernel.errors import FieldError, NotFound, ServiceUnavailable, ValidationFailed
from dgov.kernel.workers import BudgetExceeded, PoolBusy

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass
class Verification:
    verdict: Verdict
    document: DocumentInfo | None
    matches_registered: bool
    summary: list[dict[str, str]]

    @property
    def valid(self) -> bool:
        return self.verdict.valid and (self.document is None or self.document.status == "valid")


def mask_id(value: str) -> str:
    return value[:3] + "*" * 6 + value[-3:] if len(value) == 12 and value.isdigit() else value


def public_summary(info: DocumentInfo) -> list[dict[str, str]]:
    """What anyone holding the code or the file may see: the template's summary fields, ID numbers
    masked (the holder compares them with the paper; a stranger learns little)."""
    if not info.template:
        return []
    try:
        tmpl = template(info.template)
    except NotFound:
        return []
    rows = tmpl.summary_of(info.data)
    for r in rows:
        if r["field"].endswith("id_number"):
            r["value"] = mask_id(r["value"])
        elif _ISO_DATE.fullmatch(r["value"]):
            r["value"] = render.vn_date(r["value"])
    return rows


async def lookup(ctx: DocumentsContext, code: str) -> DocumentInfo:
    """A registered issued document by its code (the QR link); uploads are never public."""
    info = await get_document(ctx, code.strip().upper())
    if info.kind != "issued":
        raise NotFound("No document has this code")
    return info


async def _verdict(ctx: DocumentsContext, data: bytes) -> Verdict:
    """pyHanko's validation is CPU-bound pure Python: on the web it runs in the runtime's worker pool
    within a time budget, so one hostile file cannot hold the event loop (and every other request)."""
    s = ctx.settings
    if ctx.pool is None:
        vc = await pki.validation_context(s, ctx.db)
        return await check(data, vc, max_signatures=s.documents_verify_max_signatures)
    material = await pki.trust_material(s, ctx.db)
    try:
        return await ctx.pool.run(
            check_in_worker,
            data,
            material,
            s.documents_verify_max_signatures,
            budget=s.documents_verify_timeout_seconds,
        )
    except BudgetExceeded:
        seconds = f"{s.documents_verify_timeout_seconds:g}"
        raise ValidationFailed(
            "The document cannot be verified",
            errors=[
                FieldError(
                    ("file",),
                    "Verifying this document took longer than {seconds} seconds; it was stopped",
                    {"seconds": seconds},
                )
            ],
        ) from None
    except PoolBusy:
        raise ServiceUnavailable(
            "Too many documents are being verified right now; try again in a minute",
            extra={"retry_after": 30},
        ) from None


async def verify(ctx: DocumentsContext, data: bytes) -> Verification:
    limit = min(ctx.max_upload_bytes, ctx.settings.documents_verify_max_bytes)
    if len(data) > limit:
        raise ValidationFailed(
            "The document cannot be verified",
            errors=[
                FieldError(
                    ("file",), "The file is larger than {limit} MB", {"limit": max(1, limit // (1024 * 1024))}
                )
            ],
        )
    if not data.startswith(b"%PDF-"):
        raise ValidationFailed(
            "Only signed PDF documents can be verified",
            errors=[FieldError(("file",), "The file is not a PDF document")],
        )
    verdict = await _verdict(ctx, data)
    doc: DocumentInfo | None = None
    async with ctx.db.uow(readonly=True) as uow:
        row = (await uow.session.execute(joined().where(versions.c.sha256 == verdict.sha256))).first()
        if row is None and verdict.signature and verdict.signature.code:
            row = (
                await uow.session.execute(joined().where(documents.c.code == verdict.signature.code))
            ).first()
    if row is not None and row.kind == "issued":
        doc = info_of(row)
    matches = doc is not None and doc.sha256 == verdict.sha256
    if doc is not None and doc.status != "valid":
        verdict.reason_codes.append("document_revoked")
        verdict.valid = False
    return Verification(
        verdict=verdict, document=doc, matches_registered=matches, summary=public_summary(doc) if doc else []
    )
