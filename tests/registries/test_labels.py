"""Coded values are shown in words: every value any schema's `enum` allows has a label (a msgid the
pages translate), and only in the fields that allow it."""

from __future__ import annotations

from dgov.kernel.i18n import current_locale
from dgov.registries.labels import enum_fields, enum_label
from dgov.registries.pages_present import lines


def test_every_coded_value_of_every_schema_has_a_label() -> None:
    fields = enum_fields()
    assert {"sex", "status", "relationship_to_head", "land_use_purpose", "legal_form"} <= set(fields)
    missing = [(f, v) for f, values in fields.items() for v in sorted(values) if enum_label(f, v) is None]
    assert missing == []


def test_pages_show_words_not_codes() -> None:
    token = current_locale.set("en")
    try:
        assert lines("status", "dead") == ["Deceased"]
        assert lines("sex", "F") == ["Female"]
        assert lines("land_use_purpose", "LUC") == ["LUC — Specialised rice land"]
        member = lines("members", [{"relationship_to_head": "child_in_law"}])
        assert member == ["Relationship to the head of household: Son- or daughter-in-law"]
        # A value is a code only in a field that lists it.
        assert lines("street", "active") == ["active"]
    finally:
        current_locale.reset(token)
