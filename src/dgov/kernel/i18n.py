"""Translations: Vietnamese first, English second, more by adding a catalogue.

Message ids are English; `locale/<lang>/LC_MESSAGES/messages.po` holds each language. Catalogues are
compiled in memory at first use, so the `.po` files are the single source and nothing generated is
committed. The current locale lives in a context variable set per request (or per CLI call).
"""

from __future__ import annotations

import io
from contextvars import ContextVar
from functools import cache
from importlib import resources
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

SUPPORTED = ("vi", "en")
DEFAULT = "vi"

current_locale: ContextVar[str] = ContextVar("dgov_locale", default=DEFAULT)


@cache
def translations(locale: str) -> NullTranslations:
    po = resources.files("dgov") / "locale" / locale / "LC_MESSAGES" / "messages.po"
    if not po.is_file():
        return NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf)


def gettext(message: str, **params: Any) -> str:
    text = translations(current_locale.get()).gettext(message)
    return text.format(**params) if params else text


def ngettext(singular: str, plural: str, n: int, **params: Any) -> str:
    text = translations(current_locale.get()).ngettext(singular, plural, n)
    return text.format(n=n, **params)


_ = gettext


def negotiate(accept_language: str | None, default: str = DEFAULT) -> str:
    """Pick a supported locale from an Accept-Language header (quality values honoured)."""
    if not accept_language:
        return default
    choices: list[tuple[float, str]] = []
    for part in accept_language.split(","):
        lang, _sep, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        base = lang.strip().lower().split("-")[0]
        if base in SUPPORTED and weight > 0:  # q=0 means "not acceptable" (RFC 9110 §12.4.2)
            choices.append((weight, base))
    return max(choices, key=lambda c: c[0])[1] if choices else default
