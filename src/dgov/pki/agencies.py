"""The agencies this node signs documents for.

The ministries are the owners named in the registries' schemas; the two ward-level bodies are the ones
that actually issue the demo's civil status extracts and residence confirmations (Law on Civil Status
2014 Art. 7: the commune people's committee registers births and marriages; Law on Residence 2020
Art. 24: the commune police confirm residence).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Agency:
    code: str
    name_vi: str
    name_en: str

    def name(self, locale: str = "vi") -> str:
        return self.name_en if locale == "en" else self.name_vi


_AGENCIES: tuple[Agency, ...] = (
    Agency("BTP", "Bộ Tư pháp", "Ministry of Justice"),
    Agency("BCA", "Bộ Công an", "Ministry of Public Security"),
    Agency("BHXH", "Bảo hiểm xã hội Việt Nam", "Vietnam Social Security"),
    Agency("BGDDT", "Bộ Giáo dục và Đào tạo", "Ministry of Education and Training"),
    Agency("BTC", "Bộ Tài chính", "Ministry of Finance"),
    Agency("BNNMT", "Bộ Nông nghiệp và Môi trường", "Ministry of Agriculture and Environment"),
    Agency("UBND-BADINH", "Ủy ban nhân dân phường Ba Đình", "People's Committee of Ba Dinh Ward"),
    Agency("CA-BADINH", "Công an phường Ba Đình", "Ba Dinh Ward Police"),
)
_BY_CODE = {a.code: a for a in _AGENCIES}


def agencies() -> list[Agency]:
    return list(_AGENCIES)


def agency(code: str) -> Agency | None:
    return _BY_CODE.get(code.upper())
