"""What an upload may be: a PDF or a JPEG, PNG or WebP image, recognised from its bytes alone.

The file name and the declared content type are only checked against what the bytes are: a PDF named
`.png`, an executable renamed `.pdf`, a file that is two formats at once (an image with a ZIP or a
program appended, a PDF carrying JavaScript or embedded files) are refused, and nothing is stored.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import Any

import puremagic

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


# Where each accepted type's signature must sit: at the very first byte. puremagic recognises a type by
# signatures it may find further in (a PDF header anywhere in the first kilobyte, say); a file that
# starts as something else is two files at once and is refused.
_STARTS: dict[str, Any] = {
    PDF: lambda d: d.startswith(b"%PDF-"),
    JPEG: lambda d: d.startswith(b"\xff\xd8\xff"),
    PNG: lambda d: d.startswith(b"\x89PNG\r\n\x1a\n"),
    WEBP: lambda d: len(d) >= 12 and d[:4] == b"RIFF" and d[8:12] == b"WEBP",
}


def _sniff(data: bytes) -> str | None:
    """The accepted type puremagic recognises with its highest confidence, confirmed at offset 0."""
    try:
        matches = puremagic.magic_string(data)
    except (puremagic.PureError, ValueError):
        return None
    if not matches:
        return None
    best = max(m.confidence for m in matches)
    for m in matches:
        if m.confidence == best and m.mime_type in _STARTS and _STARTS[m.mime_type](data):
            return str(m.mime_type)
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
        if _pdf_has_active_parts(data):
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


# What an uploaded PDF may do when opened: navigate, nothing else. Every action anywhere in the file is
# checked against this list, whatever its trigger; the rest are refused, and why:
#   JavaScript, Rendition (may carry /JS), RichMediaExecute — run code in the reader's viewer;
#   Launch — starts a program or opens a file on the reader's computer;
#   SubmitForm, ImportData — send form data elsewhere or load it from elsewhere (data leaves or enters);
#   GoToR, GoToE — open another document (a remote path leaks the reader's network credentials, an
#     embedded one is a second file hidden inside the first);
#   URI — allowed only to http(s) and mailto (`javascript:`, `file:`, `data:` run code or read files);
#   Sound, Movie, Hide, SetOCGState, ResetForm, Trans, GoTo3DView and unknown types — interactive or
#     multimedia features a scan or a certificate never needs; refused rather than reviewed one by one.
_SAFE_ACTIONS = frozenset({"/GoTo", "/URI", "/Named", "/Thread"})
_SAFE_URI = ("http://", "https://", "mailto:")
# Action types refused wherever they are found, even in an object nothing points at (a viewer repairing
# a damaged cross-reference table may still find it).
_HOSTILE_ACTIONS = frozenset(
    {
        "/JavaScript",
        "/Launch",
        "/SubmitForm",
        "/ImportData",
        "/GoToR",
        "/GoToE",
        "/RichMediaExecute",
        "/Rendition",
    }
)
# Keys holding one action: /A (annotations, outline items, fields), /OpenAction (catalog), /Next
# (the action run after this one: a single action or an array), /PA (a link's parent action).
_ACTION_KEYS = ("/A", "/OpenAction", "/Next", "/PA")
# Keys and types that are themselves active content or a hidden file: scripts (/JS, the /JavaScript
# name tree), embedded files (/EmbeddedFiles tree, /EF in a file specification), XFA forms (scripted).
_HOSTILE_KEYS = frozenset({"/JS", "/JavaScript", "/EmbeddedFiles", "/EF", "/XFA", "/RichMediaContent"})
_HOSTILE_TYPES = frozenset({"/EmbeddedFile"})
_HOSTILE_SUBTYPES = frozenset({"/FileAttachment", "/RichMedia", "/Screen", "/Movie", "/Sound", "/3D"})
# A document people upload has a few thousand objects; a file built to exhaust the walk is refused.
_MAX_OBJECTS = 100_000
_MAX_DEPTH = 64


class _Active(Exception):
    """The PDF carries active content (why, for the log-free refusal: the message is generic)."""


def _pdf_has_active_parts(data: bytes) -> bool:
    """Parse the document (names are decoded, so `/J#61vaScript` is `/JavaScript`; compressed object
    streams are opened) and look at every object in its cross-reference tables: every action, whatever
    holds it — the catalog's /OpenAction and /AA, pages', annotations' and form fields' /A and /AA
    (kids included: each is an object of its own), outline items, /Next chains — and the name trees."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.crypt.api import AuthStatus
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader

    budget = [_MAX_OBJECTS]

    def resolve(value: Any) -> Any:
        return value.get_object() if isinstance(value, generic.IndirectObject | generic.Reference) else value

    def check_action(value: Any) -> None:
        action = resolve(value)
        if not isinstance(action, generic.DictionaryObject):
            return  # a named destination (/OpenAction may be one)
        kind = action.get("/S")
        if kind not in _SAFE_ACTIONS:
            raise _Active(f"action {kind}")
        if kind == "/URI":
            uri = str(action.get("/URI", "")).strip().lower()
            if not uri.startswith(_SAFE_URI):
                raise _Active("uri")

    def visit(value: Any, depth: int) -> None:
        budget[0] -= 1
        if budget[0] < 0 or depth > _MAX_DEPTH:
            raise ValueError("too many objects")
        if isinstance(value, generic.ArrayObject):
            for item in value:
                if not isinstance(item, generic.IndirectObject | generic.Reference):
                    visit(item, depth + 1)
            return
        if not isinstance(value, generic.DictionaryObject):
            return
        if _HOSTILE_KEYS.intersection(value.keys()):
            raise _Active("key")
        if value.get("/Type") in _HOSTILE_TYPES or value.get("/Subtype") in _HOSTILE_SUBTYPES:
            raise _Active("type")
        if value.get("/S") in _HOSTILE_ACTIONS:
            raise _Active("action")
        for key in _ACTION_KEYS:
            if key not in value:
                continue
            target = resolve(value.raw_get(key))
            if not isinstance(target, generic.ArrayObject):
                check_action(target)
            elif key == "/Next":  # several actions run in turn; an /OpenAction array is a destination
                for item in target:
                    check_action(item)
        if "/AA" in value:  # additional actions: trigger → action
            triggers = resolve(value.raw_get("/AA"))
            if isinstance(triggers, generic.DictionaryObject):
                for trigger in triggers:
                    check_action(triggers.raw_get(trigger))
        for key in value:
            item = value.raw_get(key)
            if not isinstance(item, generic.IndirectObject | generic.Reference):
                visit(item, depth + 1)  # indirect objects are visited from the xref, once each

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted and reader.decrypt(b"").status == AuthStatus.FAILED:
            raise _refuse(N_("Password-protected PDF files are not accepted; remove the password first"))
        refs: set[tuple[int, int]] = set()
        for revision in range(reader.xrefs.total_revisions):
            refs.update((r.idnum, r.generation) for r in reader.xrefs.explicit_refs_in_revision(revision))
        if len(refs) > _MAX_OBJECTS:
            raise ValueError("too many objects")
        visit(reader.trailer_view, 0)
        for idnum, generation in sorted(refs):
            visit(generic.Reference(idnum, generation, pdf=reader).get_object(), 0)
    except _Active:
        return True
    except (PdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        raise _refuse(N_("The PDF file is incomplete or damaged")) from exc
    return False


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
