"""PAdES signatures on issued documents: the agency's certificate, an RFC 3161 timestamp from the node's
TSA, revocation information embedded (B-LT), and a visible stamp in Vietnamese.

The stamp font: pyHanko writes glyph widths into the PDF's /W array in the font's own units, but PDF
reads them as thousandths of the text size. DejaVu has 2048 units per em, so its widths would be read
about twice too wide and viewers would space the stamp's letters apart. The stamp font is therefore a
copy of DejaVu Sans rescaled to 1000 units per em (fontTools), subset once to the Latin and Vietnamese
characters a stamp needs, and kept in memory so a signature does not parse a whole font each time.
"""

from __future__ import annotations

import functools
import io
import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.ttLib.scaleUpem import scale_upem
from pyhanko.pdf_utils.font.api import FontEngineFactory
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields
from pyhanko.sign.signers.pdf_signer import PdfSignatureMetadata, PdfSigner
from pyhanko.stamp import TextStampStyle

from dgov.documents.render import fonts
from dgov.kernel import clock

# The PKI hands pyHanko revocation data it fetched itself (no network): the warning that pyHanko may
# not fetch is expected on every signature and would only bury real problems in the logs.
logging.getLogger("pyhanko.sign.signers.pdf_signer").setLevel(logging.ERROR)

# Where the stamp goes on page 1 (PDF points from the bottom-left corner): the blank space of the
# signature block that certificates/base.css leaves between the signer's title and name.
STAMP_BOX = (292, 74, 534, 150)
STAMP_FONT_SIZE = 8
SIGNATURE_BYTES = 12 * 1024
VIETNAM_TIME = timezone(timedelta(hours=7))
_STAMP_CHARS = (
    [chr(c) for c in range(0x20, 0x7F)]
    + [chr(c) for c in range(0xA0, 0x250)]
    + [chr(c) for c in range(0x300, 0x370)]
    + [chr(c) for c in range(0x1E00, 0x1F00)]
    + list("–—‘’“”…•")
)


@functools.cache
def stamp_font_bytes() -> bytes:

    font = TTFont(str(fonts().sans))
    options = subset.Options()
    # No layout tables: stamp text is NFC, where every Vietnamese letter is one precomposed glyph, and
    # pyHanko re-subsets the font on every signature (GPOS/GSUB would triple its cost).
    options.layout_features = []
    options.drop_tables += ["GPOS", "GSUB", "GDEF", "FFTM"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.hinting = False  # the hinting programs work in the old units; rescaled they misplace dots
    sub = subset.Subsetter(options)
    sub.populate(text="".join(_STAMP_CHARS))
    sub.subset(font)
    scale_upem(font, 1000)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


class StampFont(FontEngineFactory):
    def __init__(self, size: float = STAMP_FONT_SIZE) -> None:
        self.size = size

    def create_font_engine(self, writer: Any, obj_stream: Any = None) -> GlyphAccumulator:
        if obj_stream is None and writer.stream_xrefs:
            obj_stream = writer.prepare_object_stream()
        return GlyphAccumulator(
            writer=writer,
            font_handle=io.BytesIO(stamp_font_bytes()),
            font_size=self.size,
            bcp47_lang_code="vi",
            obj_stream=obj_stream,
        )


@dataclass(frozen=True)
class SignRequest:
    code: str
    title: str
    agency_name: str
    place: str


def _style() -> TextStampStyle:
    return TextStampStyle(
        stamp_text=(
            "Ký số bởi: %(agency)s\n"
            "Thời gian ký: %(when)s\n"
            "Mã giấy tờ: %(code)s\n"
            "Tra cứu tính hợp lệ bằng mã QR"
        ),
        text_box_style=TextBoxStyle(font=StampFont(), leading=11),
        border_width=1,
        background=None,
    )


def local_time(at: datetime) -> str:
    return at.astimezone(VIETNAM_TIME).strftime("%d/%m/%Y %H:%M:%S (GMT+7)")


def field_name(code: str) -> str:
    """The signature field carries the document code, so a verifier finds it even in an altered file."""
    return f"dgov-{code}"


def code_from_field(name: str | None) -> str | None:
    return name[5:] if name and name.startswith("dgov-") else None


async def sign_pdf(
    pdf: bytes, material: Any, req: SignRequest, *, signed_at: datetime | None = None
) -> bytes:
    """PAdES B-LT: signature + document timestamp token from the node TSA + DSS with the chain's
    CRLs and OCSP responses. `material` is a `dgov.pki.SigningMaterial`."""
    meta = PdfSignatureMetadata(
        field_name=field_name(req.code),
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=f"{req.title} số {req.code}",
        location=req.place,
        name=req.agency_name,
        embed_validation_info=True,
        validation_context=material.validation_context,
        use_pades_lta=False,
    )
    signer = PdfSigner(
        meta,
        signer=material.signer,
        timestamper=material.timestamper,
        stamp_style=_style(),
        new_field_spec=fields.SigFieldSpec(sig_field_name=field_name(req.code), on_page=0, box=STAMP_BOX),
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    out = io.BytesIO()
    await signer.async_sign_pdf(
        writer,
        output=out,
        appearance_text_params={
            "agency": unicodedata.normalize("NFC", req.agency_name),
            "code": req.code,
            "when": local_time(signed_at or clock.now()),
        },
        # Reserved for the CMS container; without it pyHanko signs twice to measure the size.
        bytes_reserved=SIGNATURE_BYTES,
    )
    return out.getvalue()
