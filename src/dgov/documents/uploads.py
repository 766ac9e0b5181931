"""What an upload may be: a PDF or a JPEG, PNG or WebP image, recognised from its bytes alone.

The file name and the declared content type are only checked against what the bytes are: a PDF named
`.png`, an executable renamed `.pdf`, a file that is two formats at once (an image with a ZIP or a
program appended, a PDF carrying JavaScript or embedded files) are refused, and nothing is stored.
"""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass
from typing import Any

from dgov.kernel.errors import FieldError, ValidationFailed

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
WEBP = "image/webp"

EXTENSIONS: dict[str, tuple[str, ...]] = {
    PDF: (".pdf",),
    JPEG: (".jpg", ".jpeg"),
    PNG: (".png",),
    WEBP: (".webp",),
}
ACCEPT = ",".join([*EXTENSIONS, *(e for exts in EXTENSIONS.values() for e in exts)])

# Signatures of things that must never be stored as a document, wherever they appear at the start.
_EXECUTABLE = (
    (b"MZ", "Windows program"),
    (b"\x7fELF", "Linux program"),
    (b"\xca\xfe\xba\xbe", "macOS program"),
    (b"\xcf\xfa\xed\xfe", "macOS program"),
    (b"#!", "script"),
    (b"PK\x03\x04", "ZIP archive"),
    (b"Rar!", "RAR archive"),
    (b"7z\xbc\xaf", "7-Zip archive"),
    (b"\xd0\xcf\x11\xe0", "Office document with macros"),
)
# Markers of a second file hidden after or inside the first (polyglots).
_EMBEDDED = (b"PK\x03\x04", b"MZ\x90\x00", b"\x7fELF", b"<script", b"<html", b"<?php")
# PDF features that run code or carry files: an uploaded scan or certificate needs none of them.
_PDF_ACTIVE = re.compile(rb"/(JavaScript|JS|Launch|EmbeddedFile|RichMedia|OpenAction|AA|XFA)\b")


@dataclass(frozen=True)
class Detected:
    media_type: str
    extension: str


def N_(message: str) -> str:
    """Marks a msgid for extraction; the web layer translates it when the error is shown."""
    return message


def _refuse(message: str, **params: object) -> ValidationFailed:
    return ValidationFailed(
        "The file cannot be accepted", errors=[FieldError(("file",), message, dict(params))]
    )


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


def _png_end(data: bytes) -> int:
    """Offset just after the IEND chunk, walking the chunks (a trailing second file is then visible)."""
    pos = 8
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        pos += 12 + length
        if kind == b"IEND":
            return pos
    return -1


def _check_structure(data: bytes, media_type: str) -> None:
    if media_type == PDF:
        tail = data[-1024:]
        if b"%%EOF" not in tail:
            raise _refuse(N_("The PDF file is incomplete or damaged"))
        if _PDF_ACTIVE.search(data) or _pdf_has_active_parts(data):
            raise _refuse(N_("The PDF contains scripts, actions or embedded files, which are not accepted"))
        end = data.rfind(b"%%EOF") + 5
        if data[end:].strip():
            raise _refuse(N_("The file contains data after its end: it may hide another file"))
    elif media_type == PNG:
        end = _png_end(data)
        if end < 0:
            raise _refuse(N_("The image is incomplete or damaged"))
        if end != len(data):
            raise _refuse(N_("The file contains data after its end: it may hide another file"))
    elif media_type == JPEG:
        if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
            raise _refuse(N_("The file contains data after its end: it may hide another file"))
    elif media_type == WEBP:
        (size,) = struct.unpack("<I", data[4:8])
        if size + 8 != len(data):
            raise _refuse(N_("The file contains data after its end: it may hide another file"))
    if media_type != PDF:
        lowered = data.lower()
        if any(marker.lower() in lowered for marker in _EMBEDDED):
            raise _refuse(N_("The image contains another file or code, which is not accepted"))
        _decode_image(data)


_ACTION_KINDS = {"/JavaScript", "/Launch", "/ImportData", "/SubmitForm", "/RichMediaExecute"}


def _pdf_has_active_parts(data: bytes) -> bool:
    """Look inside the parsed document too: most PDFs keep their catalog and annotations in compressed
    object streams, where no byte pattern can see them."""
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        root = reader.root
        if "/OpenAction" in root or "/AA" in root:
            return True
        names = root.get("/Names")
        if names is not None and any(k in names.get_object() for k in ("/JavaScript", "/EmbeddedFiles")):
            return True
        form = root.get("/AcroForm")
        if form is not None and "/XFA" in form.get_object():
            return True
        for page_ref in _pages(reader):
            page = page_ref.get_object()
            if "/AA" in page:
                return True
            for annot in page.get("/Annots", []) or []:
                a = annot.get_object()
                action = a.get("/A")
                if "/AA" in a or (action is not None and action.get_object().get("/S") in _ACTION_KINDS):
                    return True
                if a.get("/Subtype") in ("/FileAttachment", "/RichMedia", "/Screen", "/Movie"):
                    return True
    except (PdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        raise _refuse(N_("The PDF file is incomplete or damaged")) from exc
    return False


def _pages(reader: Any) -> list[Any]:
    count = int(reader.root["/Pages"].get_object().get("/Count", 0))
    if count > 500:  # a document people upload; a page bomb is refused rather than walked
        raise ValueError("too many pages")
    return [reader.find_page_for_modification(i)[0] for i in range(count)]


def _decode_image(data: bytes) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _refuse(N_("The image is incomplete or damaged")) from exc


def detect(data: bytes, *, filename: str, declared_type: str | None, max_bytes: int) -> Detected:
    """The upload's real type, or ValidationFailed naming why it is refused."""
    if not data:
        raise _refuse(N_("The file is empty"))
    if len(data) > max_bytes:
        raise _refuse(N_("The file is larger than {limit} MB"), limit=max(1, max_bytes // (1024 * 1024)))
    for magic, _what in _EXECUTABLE:
        if data.startswith(magic):
            raise _refuse(N_("The file is a program or an archive, not a document; it is not accepted"))
    media_type = _sniff(data)
    if media_type is None:
        raise _refuse(N_("Only PDF files and JPEG, PNG or WebP images are accepted"))
    name = filename.lower()
    ext = "." + name.rsplit(".", 1)[1] if "." in name else ""
    if ext and ext not in EXTENSIONS[media_type]:
        raise _refuse(
            N_("The file name ends in {ext} but the file is a {kind}; rename it or choose the right file"),
            ext=ext,
            kind=media_type.split("/")[1].upper(),
        )
    # Browsers derive the declared type from the extension; another document type means renamed content.
    if declared_type in EXTENSIONS and declared_type != media_type:
        raise _refuse(
            N_("The file was sent as {declared} but it is a {kind}"),
            declared=declared_type,
            kind=media_type.split("/")[1].upper(),
        )
    _check_structure(data, media_type)
    return Detected(media_type=media_type, extension=EXTENSIONS[media_type][0])
