"""Words for the coded values the schemas allow (their `enum`s): the pages show "Còn sống" rather than
"alive". The msgids are English and marked with N_() so that they reach the catalogue; the pages
translate them with `_()`. A value is labelled only in a field whose schema lists it, so a free-text
field that happens to hold "active" is shown as written."""

from __future__ import annotations

from functools import cache
from typing import Any

from dgov.registries.definitions import catalogue


def N_(message: str) -> str:
    """Marks a msgid for extraction; translated where it is shown."""
    return message


# By field where the same value means different things in different fields, else by value.
BY_FIELD: dict[str, dict[str, str]] = {
    "sex": {"M": N_("Male"), "F": N_("Female")},
}
BY_VALUE: dict[str, str] = {
    # status of people and records
    "alive": N_("Alive"),
    "dead": N_("Deceased"),
    "missing": N_("Missing"),
    "valid": N_("Valid"),
    "corrected": N_("Corrected"),
    "cancelled": N_("Cancelled"),
    "active": N_("Active"),
    "expired": N_("Expired"),
    "suspended": N_("Suspended"),
    "revoked": N_("Revoked"),
    "reissued": N_("Reissued"),
    "moved": N_("Moved away"),
    "dissolving": N_("Being dissolved"),
    "dissolved": N_("Dissolved"),
    "bankrupt": N_("Bankrupt"),
    "registered": N_("Registered"),
    "certified": N_("Certificate issued"),
    "disputed": N_("Disputed"),
    "merged": N_("Merged"),
    "split": N_("Split"),
    "contributing": N_("Contributing"),
    "paused": N_("Contributions paused"),
    "pensioner": N_("Receiving a pension"),
    "lump_sum_paid": N_("Paid out as a lump sum"),
    "closed": N_("Closed"),
    # civil status events
    "birth": N_("Birth"),
    "marriage": N_("Marriage"),
    "divorce": N_("Divorce"),
    "death": N_("Death"),
    # residence
    "permanent": N_("Permanent residence"),
    "temporary": N_("Temporary residence"),
    "head": N_("Head of household"),
    "spouse": N_("Spouse"),
    "child": N_("Child"),
    "parent": N_("Parent"),
    "parent_in_law": N_("Parent-in-law"),
    "child_in_law": N_("Son- or daughter-in-law"),
    "grandchild": N_("Grandchild"),
    "grandparent": N_("Grandparent"),
    "sibling": N_("Sibling"),
    "other_relative": N_("Other relative"),
    "other": N_("Other"),
    # insurance
    "compulsory": N_("Compulsory"),
    "voluntary": N_("Voluntary"),
    # education
    "lower_secondary": N_("Lower secondary"),
    "upper_secondary": N_("Upper secondary"),
    "intermediate": N_("Intermediate vocational"),
    "college": N_("College"),
    "bachelor": N_("Bachelor"),
    "engineer": N_("Engineer"),
    "master": N_("Master"),
    "doctorate": N_("Doctorate"),
    "excellent": N_("Excellent"),
    "very_good": N_("Very good"),
    "good": N_("Good"),
    "fairly_good": N_("Fairly good"),
    "average": N_("Average"),
    "pass": N_("Pass"),
    "full_time": N_("Full-time"),
    "part_time": N_("Part-time"),
    "distance": N_("Distance learning"),
    "continuing": N_("Continuing education"),
    # business
    "enterprise": N_("Enterprise"),
    "household_business": N_("Household business"),
    "private_enterprise": N_("Private enterprise"),
    "partnership": N_("Partnership"),
    "llc_single_member": N_("Single-member limited liability company"),
    "llc_multi_member": N_("Multi-member limited liability company"),
    "joint_stock": N_("Joint-stock company"),
    # land: form of use
    "private": N_("Private use"),
    "shared": N_("Shared use"),
}
# Land use purposes: the codes of the land statistics and cadastral maps (Circular 08/2024/TT-BTNMT),
# shown with the code.
LAND_USE: dict[str, str] = {
    "ONT": N_("Rural residential land"),
    "ODT": N_("Urban residential land"),
    "LUC": N_("Specialised rice land"),
    "LUK": N_("Other rice land"),
    "BHK": N_("Flat land for other annual crops"),
    "CLN": N_("Perennial crop land"),
    "RSX": N_("Production forest land"),
    "RPH": N_("Protection forest land"),
    "RDD": N_("Special-use forest land"),
    "NTS": N_("Aquaculture land"),
    "LMU": N_("Salt production land"),
    "NKH": N_("Other agricultural land"),
    "TSC": N_("Land for agency offices"),
    "SKC": N_("Land for non-agricultural production"),
    "TMD": N_("Commercial and service land"),
    "DGT": N_("Transport land"),
    "DTL": N_("Irrigation land"),
    "NTD": N_("Cemetery land"),
    "SON": N_("Rivers, canals and streams"),
    "MNC": N_("Special-use water surface"),
    "BCS": N_("Unused flat land"),
}


@cache
def enum_fields() -> dict[str, frozenset[str]]:
    """Every field name (nested ones by their last name) → the values some schema allows in it."""
    found: dict[str, set[str]] = {}

    def walk(props: dict[str, Any]) -> None:
        for name, spec in props.items():
            if isinstance(spec.get("enum"), list):
                found.setdefault(name, set()).update(str(v) for v in spec["enum"])
            walk(spec.get("properties", {}))
            walk(spec.get("items", {}).get("properties", {}))

    for versions in catalogue().values():
        for reg in versions.values():
            walk(reg.fields())
    return {k: frozenset(v) for k, v in found.items()}


def enum_label(field: str, value: str) -> tuple[str, bool] | None:
    """The msgid for a coded value (to pass to `_()`), and whether the code is shown beside it; None
    when the field is not coded or the value has no label."""
    if value not in enum_fields().get(field, frozenset()):
        return None
    if field == "land_use_purpose" and value in LAND_USE:
        return LAND_USE[value], True
    text = BY_FIELD.get(field, {}).get(value) or BY_VALUE.get(value)
    return (text, False) if text else None
