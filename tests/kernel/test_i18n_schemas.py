"""Registry schema field titles reach the catalogues: the pages show them through `_()`, so each one
must be a msgid (extracted by dgov.locale.extract.extract_registry_schema, see babel.cfg)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from babel.messages.pofile import read_po

from dgov.locale.extract import extract_registry_schema, schema_titles

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = sorted((ROOT / "src" / "dgov" / "registries" / "schemas").glob("*/v*.json"))
LOCALE = ROOT / "src" / "dgov" / "locale"
FIX = "run scripts/i18n.sh, then translate the new entries in src/dgov/locale/vi/LC_MESSAGES/messages.po"


def _property_titles(node: object) -> set[str]:
    """Independent of the extractor: every property's title, found by following `properties` and
    `items` only (the shapes the registry schemas use)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for spec in node.get("properties", {}).values():
            if isinstance(spec.get("title"), str):
                found.add(spec["title"])
            found |= _property_titles(spec)
        found |= _property_titles(node.get("items"))
    return found


def test_there_are_schemas_to_check() -> None:
    assert len(SCHEMAS) >= 8


def test_every_schema_property_title_is_in_the_catalogue() -> None:
    with (LOCALE / "messages.pot").open("rb") as f:
        pot_ids = {m.id for m in read_po(f) if m.id}
    with (LOCALE / "vi" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        vi = read_po(f, locale="vi")
    missing, untranslated = [], []
    for path in SCHEMAS:
        titles = _property_titles(json.loads(path.read_text(encoding="utf-8")))
        assert titles, f"{path} has no property titles: has the schema layout changed?"
        for title in sorted(titles):
            if title not in pot_ids:
                missing.append(f"{path.parent.name}: {title}")
            entry = vi.get(title)
            if entry is None or entry.fuzzy or not entry.string:
                untranslated.append(f"{path.parent.name}: {title}")
    assert not missing, f"schema titles missing from messages.pot ({FIX}):\n  " + "\n  ".join(missing)
    assert not untranslated, f"schema titles without Vietnamese ({FIX}):\n  " + "\n  ".join(untranslated)


def test_extractor_finds_nested_titles_and_skips_the_bilingual_ones() -> None:
    schema = {
        "title": "Sample",
        "x-dgov": {"title": {"vi": "Mẫu", "en": "Sample"}, "properties": {"a": {"title": "not a msgid"}}},
        "properties": {
            "id_number": {"type": "string", "title": "Personal identification number"},
            "address": {
                "type": "object",
                "title": "Permanent residence",
                "properties": {
                    "street": {"type": "string", "title": "Street"},
                    "untitled": {"type": "string"},
                },
            },
            "members": {
                "type": "array",
                "title": "Household members",
                "items": {
                    "type": "object",
                    "properties": {"relationship": {"title": "Relationship to head"}},
                },
            },
            "title": {"type": "string", "title": "Degree title"},
        },
        "allOf": [{"if": {"properties": {"kind": {"const": "x"}}}}],
    }
    assert list(schema_titles(schema)) == [
        "Personal identification number",
        "Permanent residence",
        "Street",
        "Household members",
        "Relationship to head",
        "Degree title",
    ]
    text = json.dumps(schema, indent=2).encode()
    found = list(extract_registry_schema(io.BytesIO(text), {}, (), options={}))
    assert [msg for _line, _func, msg, _notes in found] == list(schema_titles(schema))
    lines = text.decode().splitlines()
    for line, _func, msg, _notes in found:
        assert f'"title": {json.dumps(msg)}' in lines[line - 1], (msg, line)
