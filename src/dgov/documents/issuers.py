"""What an issued document prints about its issuer beyond the agency's name (which comes from the PKI):
the superior body named above it, the place in the date line, and the administrative unit it serves.
Decree 30/2020/ND-CP appendix I: a body below the ministry level shows its superior on the first line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IssuerInfo:
    parent: str
    place: str
    unit: str | None


_ISSUERS: dict[str, IssuerInfo] = {
    "UBND-BADINH": IssuerInfo(parent="Thành phố Hà Nội", place="Hà Nội", unit="00004"),
    "CA-BADINH": IssuerInfo(parent="Công an thành phố Hà Nội", place="Hà Nội", unit="00004"),
    "BHXH": IssuerInfo(parent="", place="Hà Nội", unit=None),
}
_DEFAULT = IssuerInfo(parent="", place="Hà Nội", unit=None)


def issuer_info(agency: str) -> IssuerInfo:
    return _ISSUERS.get(agency, _DEFAULT)
