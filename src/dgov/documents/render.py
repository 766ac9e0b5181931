"""Issued documents rendered HTML → PDF with WeasyPrint.

Fonts are referenced by file path through @font-face so the output never depends on what fontconfig
would pick on a given machine: DejaVu carries every Vietnamese glyph (precomposed and combining marks).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import segno
from jinja2 import BaseLoader, Environment, StrictUndefined, TemplateNotFound

from dgov.documents.templates_catalog import Template, html_source

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))


@dataclass(frozen=True)
class Fonts:
    serif: Path
    serif_bold: Path
    serif_italic: Path
    sans: Path
    sans_bold: Path


@functools.cache
def fonts() -> Fonts:
    for folder in FONT_DIRS:
        files = Fonts(
            serif=folder / "DejaVuSerif.ttf",
            serif_bold=folder / "DejaVuSerif-Bold.ttf",
            serif_italic=folder / "DejaVuSerif-Italic.ttf",
            sans=folder / "DejaVuSans.ttf",
            sans_bold=folder / "DejaVuSans-Bold.ttf",
        )
        if all(p.is_file() for p in vars(files).values()):
            return files
    raise RuntimeError(
        "DejaVu fonts not found (install fonts-dejavu-core): issued documents need a font with every "
        "Vietnamese glyph"
    )


@dataclass(frozen=True)
class Issue:
    """What the issuing side adds to a template's data: who, when, where, under which code."""

    code: str
    number: str
    agency_name: str
    parent_agency: str
    place: str
    issued_on: date
    signer_title: str
    signer_name: str


def vn_date(value: Any) -> str:
    try:
        d = value if isinstance(value, date) else date.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return f"{d.day:02d}/{d.month:02d}/{d.year}"


def vn_sex(value: Any) -> str:
    return {"M": "Nam", "F": "Nữ"}.get(str(value), str(value))


class _Loader(BaseLoader):
    def get_source(self, _environment: Environment, template: str) -> tuple[str, str | None, Any]:
        name = template.removesuffix(".html")
        try:
            return html_source(name), None, lambda: True
        except FileNotFoundError as exc:
            raise TemplateNotFound(template) from exc


_env = Environment(loader=_Loader(), autoescape=True, undefined=StrictUndefined, auto_reload=False)
_env.filters["vn_date"] = vn_date
_env.filters["vn_sex"] = vn_sex


@functools.cache
def _css() -> str:
    return resources.files("dgov.documents").joinpath("certificates", "base.css").read_text(encoding="utf-8")


def qr_data_uri(url: str) -> str:
    # PNG rather than SVG: WeasyPrint draws it as one image, faster than many vector paths.
    png = segno.make(url, error="m").png_data_uri(scale=4, border=1)
    return str(png)


def verify_url(public_url: str, code: str) -> str:
    return f"{public_url.rstrip('/')}/verify/{code}"


def html_of(t: Template, data: dict[str, Any], issue: Issue, *, public_url: str) -> str:
    f = fonts()
    url = verify_url(public_url, issue.code)
    ctx = {
        "d": data,
        "meta": {"title": t.title_in("vi"), "name": t.name},
        "issue": {
            **vars(issue),
            "day": f"{issue.issued_on.day:02d}",
            "month": f"{issue.issued_on.month:02d}",
            "year": issue.issued_on.year,
        },
        "fonts": {k: p.as_uri() for k, p in vars(f).items()},
        "css": _css(),
        "qr": qr_data_uri(url),
        "verify_url": url,
    }
    return _env.get_template(f"{t.name}.html").render(ctx)


def render_pdf(t: Template, data: dict[str, Any], issue: Issue, *, public_url: str) -> bytes:
    # Imported here: WeasyPrint pulls in Pango/cairo bindings that commands not rendering need not load.
    from weasyprint import HTML

    source = html_of(t, data, issue, public_url=public_url)
    pdf = HTML(string=source, base_url=None).write_pdf()
    assert isinstance(pdf, bytes)
    return pdf
