"""Translation catalogues: complete, in step with the code, and used by the app.

When a test here fails after you added or changed a user-facing string: run `scripts/i18n.sh`, then
translate the new entries in src/dgov/locale/vi/LC_MESSAGES/messages.po.
"""

from __future__ import annotations

import ast
import inspect
import io
from collections.abc import Iterator
from pathlib import Path
from string import Formatter

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from httpx import AsyncClient

import dgov.web.app  # noqa: F401 - loads every module that defines error classes
from dgov.kernel import i18n
from dgov.kernel.errors import DomainError
from dgov.locale.extract import error_class_names, error_msgids, extract_dgov_python
from dgov.web import errors as web_errors
from dgov.web.templating import env

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "dgov"
LOCALE = PACKAGE / "locale"
FIX = "run scripts/i18n.sh, then translate the new entries in src/dgov/locale/vi/LC_MESSAGES/messages.po"

MsgKey = str | tuple[str, ...]


def load(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=locale)


def key(msgid: str | tuple[str | None, ...]) -> MsgKey:
    return msgid if isinstance(msgid, str) else tuple(m for m in msgid if m is not None)


def entries(catalog: Catalog) -> Iterator[Message]:
    return (m for m in catalog if m.id)  # skips the header entry


def forms(text: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if text is None:
        return ()
    return (text,) if isinstance(text, str) else tuple(text)


@pytest.fixture(scope="module")
def pot() -> Catalog:
    return load(LOCALE / "messages.pot")


@pytest.fixture(scope="module")
def vi() -> Catalog:
    return load(LOCALE / "vi" / "LC_MESSAGES" / "messages.po", "vi")


@pytest.fixture(scope="module")
def pot_ids(pot: Catalog) -> set[MsgKey]:
    return {key(m.id) for m in entries(pot)}


def extracted_from_sources() -> set[MsgKey]:
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    return {
        key(message)
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(PACKAGE), method_map, options_map, keywords=DEFAULT_KEYWORDS
        )
    }


# --- the catalogues match the code -------------------------------------------------------------


def test_pot_is_up_to_date_with_the_sources(pot_ids: set[MsgKey]) -> None:
    in_code = extracted_from_sources()
    missing = sorted(map(str, in_code - pot_ids))
    stale = sorted(map(str, pot_ids - in_code))
    assert not missing, f"strings in the code that the catalogues lack ({FIX}):\n  " + "\n  ".join(missing)
    assert not stale, "strings in messages.pot the code no longer uses (run scripts/i18n.sh):\n  " + (
        "\n  ".join(stale)
    )


def _pydantic_error_types() -> set[str]:
    """The error types `_pydantic_msgid` maps, read from its source (its table is a local)."""
    tree = ast.parse(inspect.getsource(web_errors._pydantic_msgid))
    return {
        k.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict)
        for k in node.keys
        if isinstance(k, ast.Constant) and isinstance(k.value, str)
    }


def _all_subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def test_msgids_looked_up_at_run_time_are_in_the_catalogue(pot_ids: set[MsgKey]) -> None:
    """Tables of msgids are invisible to the extractor: src/dgov/locale/extra_msgids.py lists them."""
    types = _pydantic_error_types()
    assert "missing" in types  # the source reader still finds the table
    looked_up = {
        "web.errors.HTTP_TITLES": set(web_errors.HTTP_TITLES.values()),
        "web.errors._pydantic_msgid": {web_errors._pydantic_msgid({"type": t}) for t in types | {"?"}},
        "DomainError titles": {c.title for c in (DomainError, *_all_subclasses(DomainError))},
    }
    for where, msgids in looked_up.items():
        missing = sorted(msgids - pot_ids)
        assert not missing, (
            f"{where} has msgids missing from messages.pot; add them as N_(...) to "
            f"src/dgov/locale/extra_msgids.py and {FIX}: {missing}"
        )


def test_extractor_finds_error_titles_details_and_field_messages() -> None:
    source = """
from dgov.kernel.errors import Conflict, FieldError, ValidationFailed
from dgov.kernel import errors

class DossierLocked(Conflict):
    title = "This dossier is being processed"

class Stricter(DossierLocked):
    title: str = "Stricter title"
    code = "not a msgid"

class Unrelated(Exception):
    title = "not a msgid either"

def f(code, text):
    raise DossierLocked("Dossier {code} is locked", params={"code": code})
    raise errors.NotFound(detail="No such dossier")
    raise ValidationFailed(errors=[FieldError(("birth_date",), "Enter a date as YYYY-MM-DD")])
    raise ValidationFailed(errors=[FieldError(loc=("x",), message="Too old", params={})])
    raise DossierLocked(text)
    raise KeyError("not a msgid")
"""
    kernel_errors = ast.parse((PACKAGE / "kernel" / "errors.py").read_text())
    tree = ast.parse(source)
    names = error_class_names([kernel_errors, tree])
    assert {"DomainError", "Conflict", "NotFound", "DossierLocked", "Stricter"} <= names
    assert "Unrelated" not in names
    found = {text for _line, text, _note in error_msgids(tree, names)}
    assert found == {
        "This dossier is being processed",
        "Stricter title",
        "Dossier {code} is locked",
        "No such dossier",
        "Enter a date as YYYY-MM-DD",
        "Too old",
    }


def test_extractor_keeps_babels_gettext_calls() -> None:
    source = b"""
from dgov.kernel.i18n import gettext as _, ngettext
from dgov.kernel.errors import NotFound
_("Error {status}", status=404)
ngettext("{n} dossier", "{n} dossiers", 3)
raise NotFound("No such dossier")
"""
    found = {key(m[1]) for m in extract(extract_dgov_python, io.BytesIO(source))}
    assert found == {"Error {status}", ("{n} dossier", "{n} dossiers"), "No such dossier"}


def test_template_gettext_formats_keyword_arguments_and_escapes_them() -> None:
    """Templates may write `_("Error {status}", status=s)`: the keyword arguments reach our gettext
    (str.format, as in Python code) and the formatted message is still autoescaped."""
    template = env.from_string('{{ _("Error {status}", status=s) }}')
    token = i18n.current_locale.set("vi")
    try:
        assert template.render(s="<b>404</b>") == "Lỗi &lt;b&gt;404&lt;/b&gt;"
    finally:
        i18n.current_locale.reset(token)


# --- the Vietnamese catalogue is complete and well-formed -----------------------------------------


def test_every_msgid_has_a_vietnamese_translation(pot: Catalog, vi: Catalog) -> None:
    untranslated = []
    for m in entries(pot):
        t = vi.get(m.id)
        if t is None or t.fuzzy or not forms(t.string) or not all(forms(t.string)):
            untranslated.append(str(m.id) + (" (fuzzy)" if t is not None and t.fuzzy else ""))
    assert not untranslated, f"Vietnamese missing ({FIX}):\n  " + "\n  ".join(untranslated)


def placeholders(text: str) -> list[tuple[str, str, str | None]]:
    parsed = Formatter().parse(text)
    return sorted((name, spec or "", conv) for _lit, name, spec, conv in parsed if name is not None)


def test_vietnamese_keeps_the_placeholders(vi: Catalog) -> None:
    wrong = []
    for m in entries(vi):
        for source in forms(m.id):
            for text in forms(m.string):
                try:
                    same = placeholders(text) == placeholders(source)
                except ValueError as exc:  # an unbalanced brace would break str.format at run time
                    same = False
                    text = f"{text} ({exc})"
                # Jinja's newstyle gettext applies `%` to template strings: a stray % would break them.
                if not same or text.count("%") != source.count("%"):
                    wrong.append(f"{source!r} -> {text!r}")
    assert not wrong, "translations whose {placeholders} differ from the msgid:\n  " + "\n  ".join(wrong)


def test_english_catalogue_is_the_identity(pot: Catalog) -> None:
    en = load(LOCALE / "en" / "LC_MESSAGES" / "messages.po", "en")
    assert {key(m.id) for m in entries(en)} >= {key(m.id) for m in entries(pot)}, FIX
    rewritten = [m.id for m in entries(en) if any(forms(m.string)) and forms(m.string) != forms(m.id)]
    assert not rewritten, f"change English wording in the code's msgid, not in en/messages.po: {rewritten}"


# --- lookups ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("vi", ("Không tìm thấy", "Lỗi 404")), ("en", ("Not found", "Error 404"))],
)
def test_gettext_follows_the_current_locale(locale: str, expected: tuple[str, str]) -> None:
    token = i18n.current_locale.set(locale)
    try:
        assert (i18n.gettext("Not found"), i18n.gettext("Error {status}", status=404)) == expected
        assert i18n.gettext("A string nobody translated") == "A string nobody translated"
    finally:
        i18n.current_locale.reset(token)


def test_default_locale_is_vietnamese() -> None:
    assert i18n.DEFAULT == "vi"
    assert i18n.gettext("Citizens") == "Người dân"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "vi"),
        ("", "vi"),
        ("en", "en"),
        ("vi", "vi"),
        ("en-US,en;q=0.9", "en"),
        ("EN-gb", "en"),
        ("vi-VN,vi;q=0.9,en-US;q=0.8,en;q=0.7", "vi"),
        ("fr-FR,fr;q=0.9,en;q=0.5", "en"),
        ("vi;q=0.3, en;q=0.8", "en"),
        ("en, vi", "en"),
        ("fr", "vi"),
        ("*", "vi"),
        ("en;q=oops, vi;q=0.1", "vi"),
    ],
)
def test_negotiate_accept_language(header: str | None, expected: str) -> None:
    assert i18n.negotiate(header) == expected


def test_negotiate_falls_back_to_the_given_default() -> None:
    assert i18n.negotiate("de, fr", default="en") == "en"


# --- the app speaks Vietnamese first ----------------------------------------------------------------


async def test_home_page_is_vietnamese_until_english_is_chosen(client: AsyncClient) -> None:
    r = await client.get("/")
    assert r.status_code == 200
    assert '<html lang="vi">' in r.text
    assert "Người dân" in r.text and "Chính phủ số" in r.text
    assert "Citizens" not in r.text

    switch = await client.get("/lang/en", params={"next": "/"})
    assert switch.status_code == 303
    assert switch.headers["location"] == "/"
    assert "dgov_lang=en" in switch.headers["set-cookie"]

    r = await client.get("/")
    assert '<html lang="en">' in r.text
    assert "Citizens" in r.text and "Digital government" in r.text
    assert "Người dân" not in r.text

    await client.get("/lang/vi")
    assert "Người dân" in (await client.get("/")).text


async def test_api_problem_title_honours_accept_language(client: AsyncClient) -> None:
    default = await client.get("/api/no-such-thing")
    assert default.status_code == 404
    assert default.headers["content-type"].startswith("application/problem+json")
    assert default.json()["title"] == "Không tìm thấy"

    english = await client.get("/api/no-such-thing", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert english.status_code == 404
    assert english.json()["title"] == "Not found"

    other = await client.get("/api/no-such-thing", headers={"Accept-Language": "fr"})
    assert other.json()["title"] == "Không tìm thấy"


async def test_domain_error_detail_is_translated(client: AsyncClient) -> None:
    """`raise NotFound("No such asset")` in ops.py: the extractor found it, the handler translates it."""
    json_please = {"Accept": "application/json"}
    r = await client.get("/vendor/no-such-file.js", headers=json_please)
    assert r.status_code == 404
    assert r.json()["title"] == "Không tìm thấy"
    assert r.json()["detail"] == "Không tìm thấy tệp tài nguyên"

    await client.get("/lang/en")
    r = await client.get("/vendor/no-such-file.js", headers=json_please)
    assert (r.json()["title"], r.json()["detail"]) == ("Not found", "No such asset")
