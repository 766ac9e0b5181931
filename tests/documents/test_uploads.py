"""Uploads: the type comes from the bytes; anything else is refused with a clear message and nothing is
stored (no blob on disk, no row in the database)."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from pathlib import Path

import pytest
from docskit import CUONG, citizen, exe_bytes, holder, jpeg_bytes, new_citizen, pdf_bytes, png_bytes
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from sqlalchemy import func, select

from dgov.documents import DocumentsContext, upload, wallet_items
from dgov.documents.models import blobs, documents, wallet
from dgov.documents.storage import LocalBlobStore, sha256_of
from dgov.documents.uploads import detect
from dgov.kernel.errors import Forbidden, ValidationFailed
from dgov.kernel.i18n import current_locale
from dgov.kernel.i18n import gettext as _
from dgov.web.runtime import Runtime

LIMIT = 1024 * 1024


def refusal(data: bytes, filename: str, declared: str | None = None, limit: int = LIMIT) -> str:
    with pytest.raises(ValidationFailed) as info:
        detect(data, filename=filename, declared_type=declared, max_bytes=limit)
    [err] = info.value.errors
    assert err.loc == ("file",)
    return _(err.message, **err.params)


def test_types_are_detected_from_content() -> None:
    assert (
        detect(
            pdf_bytes(), filename="giay-bao-sinh.pdf", declared_type="application/pdf", max_bytes=LIMIT
        ).media_type
        == "application/pdf"
    )
    assert (
        detect(png_bytes(), filename="anh.PNG", declared_type=None, max_bytes=LIMIT).media_type == "image/png"
    )
    assert (
        detect(jpeg_bytes(), filename="scan.jpeg", declared_type="image/jpeg", max_bytes=LIMIT).media_type
        == "image/jpeg"
    )
    # No extension at all: the bytes decide.
    assert detect(png_bytes(), filename="scan", declared_type=None, max_bytes=LIMIT).media_type == "image/png"


def test_refusals_say_why() -> None:
    # Messages are msgids translated by the catalogue (Vietnamese by default); English is checked here
    # so the test does not depend on the wording of a translation.
    token = current_locale.set("en")
    try:
        assert "program" in refusal(exe_bytes(), "giay-khai-sinh.pdf")  # a renamed program
        renamed = refusal(pdf_bytes(), "anh-the.png", "image/png")  # a PDF pretending to be an image
        assert ".png" in renamed and "PDF" in renamed
        assert "MB" in refusal(b"%PDF-1.7\n" + b"0" * 2048 + b"\n%%EOF\n", "big.pdf", limit=1024)
        assert refusal(b"hello, world", "note.txt")
    finally:
        current_locale.reset(token)


def test_polyglots_and_active_content_are_refused() -> None:
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("run.sh", "#!/bin/sh\necho pwned\n")
    refusal(png_bytes() + zipped.getvalue(), "anh.png")  # data after IEND
    refusal(jpeg_bytes() + b"MZ\x90\x00" + b"\x00" * 64, "anh.jpg")
    pdf = pdf_bytes()
    refusal(pdf + zipped.getvalue(), "a.pdf")
    # JavaScript run on opening, added the way a real tool would (inside the catalog, compressed xref).
    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    w.root["/OpenAction"] = generic.DictionaryObject(
        {
            generic.NameObject("/S"): generic.NameObject("/JavaScript"),
            generic.NameObject("/JS"): generic.TextStringObject("app.alert(1)"),
        }
    )
    w.update_root()
    out = io.BytesIO()
    w.write(out)
    assert b"/JavaScript" not in pdf
    token = current_locale.set("en")
    try:
        assert "scripts" in refusal(out.getvalue(), "a.pdf")
    finally:
        current_locale.reset(token)
    refusal(b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n", "truncated.pdf")  # no %%EOF: damaged


def test_blob_store_is_content_addressed_and_detects_alteration(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    digest = store.put(b"abc")
    assert digest == sha256_of(b"abc") and store.put(b"abc") == digest
    assert store.get(digest) == b"abc"
    path = tmp_path / digest[:2] / digest[2:4] / digest
    path.write_bytes(b"abd")
    with pytest.raises(ValueError):
        store.get(digest)
    with pytest.raises(ValueError):
        store.get("../../etc/passwd")


async def _counts(docs: DocumentsContext) -> tuple[int, int, int, int]:
    async with docs.db.uow(readonly=True) as uow:
        s = uow.session
        n = [
            int(await s.scalar(select(func.count()).select_from(t)) or 0) for t in (blobs, documents, wallet)
        ]
    root = docs.settings.files_dir / "blobs"
    files = sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0
    return n[0], n[1], n[2], files


async def test_good_uploads_are_stored_bad_ones_leave_nothing(
    docs: DocumentsContext, runtime: Runtime
) -> None:
    cuong = await new_citizen(runtime, CUONG, "Lê Văn Cường", date(1985, 11, 2))
    p, h = citizen(cuong.id), holder(cuong)
    before = await _counts(docs)
    bad = [
        (exe_bytes(), "giay-to.pdf", "application/pdf"),
        (pdf_bytes(), "anh.png", "image/png"),
        (b"%PDF-1.7\n" + b"x" * (docs.max_upload_bytes + 1), "big.pdf", "application/pdf"),
        (png_bytes() + b"PK\x03\x04rest-of-a-zip", "anh.png", "image/png"),
    ]
    for data, name, declared in bad:
        with pytest.raises(ValidationFailed):
            await upload(docs, p, holder=h, data=data, filename=name, declared_type=declared)
    assert await _counts(docs) == before

    pdf = await upload(
        docs, p, holder=h, data=pdf_bytes(), filename="giay-bao-sinh.pdf", title="Giấy báo sinh"
    )
    png = await upload(docs, p, holder=h, data=png_bytes(), filename="anh.png", declared_type="image/png")
    assert (pdf.media_type, png.media_type) == ("application/pdf", "image/png")
    assert docs.store.get(pdf.sha256) == pdf_bytes() or docs.store.exists(pdf.sha256)
    items = await wallet_items(docs, p, h)
    assert {i.document.code for i in items} == {pdf.code, png.code}
    assert all(i.source == "upload" for i in items)
    assert (await _counts(docs))[3] == before[3] + 2


async def test_nobody_uploads_into_someone_elses_wallet(docs: DocumentsContext, runtime: Runtime) -> None:
    cuong = await new_citizen(runtime, CUONG, "Lê Văn Cường", date(1985, 11, 2))
    an = await new_citizen(runtime, "001090012345", "Nguyễn Văn An", date(1990, 3, 15))
    with pytest.raises(Forbidden):
        await upload(docs, citizen(cuong.id), holder=holder(an), data=png_bytes(), filename="a.png")
