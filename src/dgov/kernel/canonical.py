"""Canonical JSON: the exact bytes that hashes and signatures cover.

It is RFC 8785 (JCS) for the values dgov hashes (strings, integers, booleans, null, objects, arrays):
object keys sorted by their UTF-16 code units, no whitespace, UTF-8, only the escapes JCS allows, so a
peer node can recompute a hash with any JCS library. Floats are refused because their text form is
not stable across implementations, and so are integers a JavaScript number cannot hold exactly
(|n| > 2**53 - 1: JCS would print them differently); send those as strings. Keys must be strings:
`json` would quietly turn 1 and "1" into the same key.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

MAX_SAFE_INTEGER = 2**53 - 1


def _utf16_order(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _normalise(value: Any) -> Any:
    """Check every value and rebuild objects with their keys in JCS order (json keeps insertion order)."""
    if isinstance(value, float):
        raise TypeError("floats are not allowed in canonical JSON; use strings or integers")
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise TypeError(f"integer {value} is too large for canonical JSON; use a string")
        return value
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):
                raise TypeError(f"canonical JSON object keys must be strings, not {type(k).__name__}")
        return {k: _normalise(value[k]) for k in sorted(value, key=_utf16_order)}
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    raise TypeError(f"{type(value).__name__} is not allowed in canonical JSON")


def canonical_json(value: Any) -> bytes:
    return json.dumps(_normalise(value), separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
