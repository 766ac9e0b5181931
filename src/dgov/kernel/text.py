"""Text that may be stored: what every entry point (API, forms, CLI, imports) checks before writing.

Python's `str` can hold what UTF-8 cannot encode: a lone surrogate (`"\\ud800"`, which JSON's `\\u`
escapes produce) is accepted by the parser and then fails when the database driver encodes it — after
the row was half-written on one database and never readable again on the other (issue 13, item 1). A NUL
byte is refused by PostgreSQL and silently kept by SQLite; other C0 control characters have no place in
a name or an address. Refuse all of them up front, with the field named, and repair nothing silently.
"""

from __future__ import annotations

import re
from typing import Any

from dgov.kernel.errors import FieldError

# Lone surrogates; C0 controls except tab, line feed and carriage return; DEL.
_FORBIDDEN = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def storable(value: str) -> bool:
    """Whether `value` can be stored and read back unchanged as UTF-8 text."""
    return _FORBIDDEN.search(value) is None


def text_errors(data: Any, loc: tuple[str | int, ...] = ()) -> list[FieldError]:
    """One FieldError per string (value or key) anywhere in `data` that cannot be stored."""
    out: list[FieldError] = []
    if isinstance(data, str):
        if not storable(data):
            out.append(FieldError(loc, "This value contains characters that are not allowed"))
    elif isinstance(data, dict):
        for key, value in data.items():
            here = (*loc, key if isinstance(key, str) and storable(key) else "?")
            if isinstance(key, str) and not storable(key):
                out.append(FieldError(here, "This field name contains characters that are not allowed"))
            out += text_errors(value, here)
    elif isinstance(data, list | tuple):
        for i, value in enumerate(data):
            out += text_errors(value, (*loc, i))
    return out
