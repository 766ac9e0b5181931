"""Search keys: Vietnamese names without diacritics or case, so "nguyen van an" finds "Nguyễn Văn An"."""

from __future__ import annotations

import unicodedata

# đ/Đ are letters of their own (not d + a combining mark), so NFKD leaves them: map them by hand.
_EXTRA = str.maketrans({"đ": "d", "Đ": "d"})


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_EXTRA))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.lower().split())
