"""The eight registries as data: every schema loads, describes itself fully, accepts a realistic record
and names the right field (with the right message) when a typical row is wrong."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dgov.kernel.errors import FieldError
from dgov.registries.definitions import INDEX_FIELDS, Registry, catalogue, registry
from dgov.registries.engine import columns_for

REGISTRIES = {
    "population",
    "civil_status",
    "residence",
    "health_insurance",
    "social_insurance",
    "education",
    "business",
    "land",
}

# One believable record per registry, linked by the same people's ID numbers.
AN = "001090012345"  # Nguyễn Văn An, born 1990 in Hà Nội
BINH = "001190012346"  # Trần Thị Bình, his wife
KHANG = "001216012345"  # their son, born 2016

EXAMPLES: dict[str, dict[str, Any]] = {
    "population": {
        "id_number": AN,
        "surname": "Nguyễn",
        "middle_name": "Văn",
        "given_name": "An",
        "full_name": "Nguyễn Văn An",
        "birth_date": "1990-03-15",
        "sex": "M",
        "ethnicity": "Kinh",
        "nationality": "VN",
        "hometown": "Xã Đông Anh, Thành phố Hà Nội",
        "spouse_id_number": BINH,
        "permanent_address": {"street": "1 Phố Đội Cấn", "commune_code": "00004", "province_code": "01"},
        "household_id": "00004-0001234",
        "status": "alive",
    },
    "civil_status": {
        "registration_number": "00004-2016-KS-000125",
        "event_type": "birth",
        "book_number": "01/2016",
        "entry_number": "125",
        "id_number": KHANG,
        "full_name": "Nguyễn Minh Khang",
        "birth_date": "2016-09-01",
        "sex": "M",
        "ethnicity": "Kinh",
        "nationality": "VN",
        "event_date": "2016-09-01",
        "event_place": "Bệnh viện Phụ sản Hà Nội",
        "registration_date": "2016-09-12",
        "authority": {"name": "UBND phường Ba Đình", "commune_code": "00004", "province_code": "01"},
        "father_id_number": AN,
        "father_full_name": "Nguyễn Văn An",
        "mother_id_number": BINH,
        "mother_full_name": "Trần Thị Bình",
        "birth_notice_number": "GCS-2016-004521",
        "requester_id_number": AN,
        "requester_relationship": "cha",
        "status": "valid",
    },
    "residence": {
        "household_id": "00004-0001234",
        "residence_type": "permanent",
        "head_id_number": AN,
        "head_full_name": "Nguyễn Văn An",
        "address": {"street": "1 Phố Đội Cấn", "commune_code": "00004", "province_code": "01"},
        "members": [
            {"id_number": AN, "full_name": "Nguyễn Văn An", "relationship_to_head": "head"},
            {"id_number": BINH, "full_name": "Trần Thị Bình", "relationship_to_head": "spouse"},
            {"id_number": KHANG, "relationship_to_head": "child", "since": "2016-09-15"},
        ],
        "registered_on": "2015-06-20",
        "authority": {"name": "Công an phường Ba Đình", "commune_code": "00004"},
        "status": "active",
    },
    "health_insurance": {
        "card_number": "DN4010123456789",
        "holder_id_number": AN,
        "social_insurance_number": "0123456789",
        "full_name": "Nguyễn Văn An",
        "birth_date": "1990-03-15",
        "sex": "M",
        "beneficiary_category": "DN",
        "benefit_level": 4,
        "valid_from": "2026-01-01",
        "valid_to": "2026-12-31",
        "five_years_continuous_from": "2017-01-01",
        "initial_clinic": {"code": "01004", "name": "Bệnh viện Đa khoa Xanh Pôn", "province_code": "01"},
        # The unit that issued the card: what unit-scoped reads are judged by (issue 12, defect 9).
        "issuing_unit": {"province_code": "01", "commune_code": "00004"},
        "status": "active",
    },
    "social_insurance": {
        "book_number": "0123456789",
        "holder_id_number": AN,
        "full_name": "Nguyễn Văn An",
        "birth_date": "1990-03-15",
        "sex": "M",
        "scheme": "compulsory",
        "contribution_periods": [
            {
                "from": "2012-07",
                "to": "2018-12",
                "employer": "Công ty TNHH An Phát",
                "salary_base": 5_500_000,
            },
            {
                "from": "2019-01",
                "employer": "Công ty Cổ phần Sông Hồng",
                "employer_code": "0101234567",
                "salary_base": 12_000_000,
            },
        ],
        "total_months": 90,
        "status": "contributing",
    },
    "education": {
        "diploma_number": "QH2012012345",
        "register_entry": "CN-2012-1234",
        "holder_id_number": AN,
        "full_name": "Nguyễn Văn An",
        "birth_date": "1990-03-15",
        "sex": "M",
        "level": "bachelor",
        "major": "Kinh tế",
        "school": {"code": "QHE", "name": "Trường Đại học Kinh tế, ĐHQGHN", "province_code": "01"},
        "graduation_year": 2012,
        "classification": "good",
        "issued_on": "2012-07-20",
        "status": "valid",
    },
    "business": {
        "registration_number": "0101234567",
        "kind": "enterprise",
        "legal_form": "joint_stock",
        "name": "Công ty Cổ phần Sông Hồng",
        "representative_id_number": AN,
        "representative_name": "Nguyễn Văn An",
        "head_office": {"street": "25 Phố Liễu Giai", "commune_code": "00004", "province_code": "01"},
        "main_business_line": "6201",
        "charter_capital": 5_000_000_000,
        "registered_on": "2018-11-05",
        "status": "active",
    },
    "land": {
        "parcel_id": "00004-12-345",
        "commune_code": "00004",
        "province_code": "01",
        "map_sheet": 12,
        "parcel_number": 345,
        "address": "1 Phố Đội Cấn",
        "area_m2": 62.5,
        "land_use_purpose": "ODT",
        "use_form": "private",
        "use_term": "long_term",
        "primary_owner_id_number": AN,
        "primary_owner_name": "Nguyễn Văn An",
        "owners": [
            {"id_number": AN, "full_name": "Nguyễn Văn An", "share": 0.5},
            {"id_number": BINH, "full_name": "Trần Thị Bình", "share": 0.5},
        ],
        "certificate": {"series": "DA 123456", "entry_number": "CS01234", "issued_on": "2016-04-02"},
        "status": "certified",
    },
}


def example(name: str) -> dict[str, Any]:
    return copy.deepcopy(EXAMPLES[name])


def locs(errors: list[FieldError]) -> dict[tuple[str | int, ...], str]:
    return {e.loc: e.message for e in errors}


def test_the_catalogue_holds_the_eight_registries() -> None:
    assert set(catalogue()) == REGISTRIES
    assert set(EXAMPLES) == REGISTRIES


@pytest.mark.parametrize("name", sorted(REGISTRIES))
def test_each_registry_describes_itself(name: str) -> None:
    reg = registry(name)
    meta = reg.meta
    assert reg.version == 1
    assert meta["title"]["vi"] and meta["title"]["en"]
    assert reg.owner.isascii() and reg.owner.isupper()
    assert meta["owner"]["name"]["vi"] and meta["legal_basis"]
    # The key is required, and the subject (when there is one) is a validated personal ID number.
    assert reg.key_field in reg.schema["required"]
    assert reg.subject_field is not None
    assert reg.fields()[reg.subject_field].get("x-id-number") is True
    assert set(meta["index"]) <= set(INDEX_FIELDS)
    for path in meta["index"].values():
        spec: dict[str, Any] = reg.schema
        for part in path.split("."):
            spec = spec["properties"][part]
        assert spec.get("type") == "string", path
    for field, spec in reg.fields().items():
        assert spec.get("title") or spec.get("type") == "object", field
        if "x-authoritative" in spec:
            assert spec["x-authoritative"] in REGISTRIES


@pytest.mark.parametrize("name", sorted(REGISTRIES))
def test_a_realistic_record_is_valid_and_indexed(name: str) -> None:
    reg = registry(name)
    data = example(name)
    assert reg.errors(data) == []
    cols = columns_for(reg, data)
    assert cols["subject_id"] == data[reg.subject_field or ""]
    assert cols["name_norm"]  # every registry is searchable by a name
    if "province" in reg.meta["index"]:
        assert cols["province_code"] == "01"


def test_owners_follow_the_2025_restructuring_and_uncertain_facts_are_marked() -> None:
    owners = {name: registry(name).owner for name in REGISTRIES}
    assert owners == {
        "population": "BCA",
        "residence": "BCA",
        "civil_status": "BTP",
        "health_insurance": "BHXH",
        "social_insurance": "BHXH",
        "education": "BGDDT",
        "business": "BTC",  # the Ministry of Planning and Investment merged into Finance on 1 March 2025
        "land": "BNNMT",  # Natural Resources and Environment + Agriculture → Agriculture and Environment
    }
    for name in ("business", "land", "health_insurance", "social_insurance"):
        assert "[verify]" in registry(name).schema["description"], name
    assert "1351/QĐ-BHXH" in registry("health_insurance").schema["description"]


BAD_ROWS: list[tuple[str, dict[str, Any], tuple[str | int, ...], str]] = [
    ("population", {"birth_date": "15/03/1990"}, ("birth_date",), "Enter a date as YYYY-MM-DD"),
    ("population", {"sex": "X"}, ("sex",), "Choose one of the allowed values"),
    (
        "population",
        {"id_number": "999090012345"},
        ("id_number",),
        "The first three digits are not a known province or country code",
    ),
    (
        "civil_status",
        {"event_type": "marriage", "registration_number": "00004-2016-KH-000001"},
        ("spouse_id_number",),
        "This field is required",
    ),
    (
        "civil_status",
        {"registration_number": "00004-2016-KH-000125"},
        ("registration_number",),
        "This value is not in the expected format",
    ),
    (
        "civil_status",
        {"authority": {"commune_code": "4", "province_code": "01"}},
        ("authority", "commune_code"),
        "This value is not in the expected format",
    ),
    ("residence", {"residence_type": "temporary"}, ("valid_until",), "This field is required"),
    (
        "residence",
        {"members": [{"id_number": AN, "relationship_to_head": "boss"}]},
        ("members", 0, "relationship_to_head"),
        "Choose one of the allowed values",
    ),
    ("residence", {"members": []}, ("members",), "This value is not valid"),
    (
        "health_insurance",
        {"card_number": "DN6010123456789"},
        ("card_number",),
        "This value is not in the expected format",
    ),
    (
        "health_insurance",
        {"card_number": "DN401012345678"},
        ("card_number",),
        "This value is not in the expected format",
    ),
    ("health_insurance", {"benefit_level": "4"}, ("benefit_level",), "This value has the wrong type"),
    (
        "health_insurance",
        {"holder_id_number": "00109001234"},
        ("holder_id_number",),
        "This value is not in the expected format",
    ),
    (
        "social_insurance",
        {"contribution_periods": [{"from": "2019-13", "salary_base": 1}]},
        ("contribution_periods", 0, "from"),
        "This value is not in the expected format",
    ),
    (
        "social_insurance",
        {"contribution_periods": [{"from": "2019-01", "salary_base": -5}]},
        ("contribution_periods", 0, "salary_base"),
        "This value is too small",
    ),
    ("education", {"level": "kindergarten"}, ("level",), "Choose one of the allowed values"),
    ("education", {"graduation_year": 1900}, ("graduation_year",), "This value is too small"),
    (
        "business",
        {"registration_number": "01A8012345"},
        ("registration_number",),
        "This value is not in the expected format",
    ),
    (
        "business",
        {"kind": "household_business"},
        ("registration_number",),
        "This value is not in the expected format",
    ),
    ("land", {"area_m2": 0}, ("area_m2",), "This value is not valid"),
    ("land", {"land_use_purpose": "XYZ"}, ("land_use_purpose",), "Choose one of the allowed values"),
    ("land", {"parcel_id": "00004/12/345"}, ("parcel_id",), "This value is not in the expected format"),
    ("land", {"favourite_colour": "red"}, ("favourite_colour",), "This field is not part of the registry"),
]


@pytest.mark.parametrize(("name", "change", "loc", "msgid"), BAD_ROWS)
def test_a_typical_bad_row_names_its_field(
    name: str, change: dict[str, Any], loc: tuple[str | int, ...], msgid: str
) -> None:
    data = {**example(name), **change}
    found = locs(registry(name).errors(data))
    assert found.get(loc) == msgid, found


@pytest.mark.parametrize("name", sorted(REGISTRIES))
def test_a_missing_key_is_reported_on_the_key_field(name: str) -> None:
    reg: Registry = registry(name)
    data = example(name)
    del data[reg.key_field]
    assert locs(reg.errors(data)).get((reg.key_field,)) == "This field is required"


def test_each_civil_status_event_requires_its_own_fields() -> None:
    reg = registry("civil_status")
    base = example("civil_status")
    death = {**base, "event_type": "death", "registration_number": "00004-2026-KT-000007"}
    del death["event_place"]
    assert locs(reg.errors(death)).get(("event_place",)) == "This field is required"
    divorce = {
        **base,
        "event_type": "divorce",
        "registration_number": "00004-2026-LH-000002",
        "spouse_id_number": BINH,
    }
    assert set(locs(reg.errors(divorce))) == {("court_name",), ("judgment_number",), ("judgment_date",)}
    divorce.update(
        court_name="Tòa án nhân dân khu vực 1 - Hà Nội",
        judgment_number="123/2026/QĐST-HNGĐ",
        judgment_date="2026-03-02",
    )
    assert reg.errors(divorce) == []


def test_a_household_business_has_its_own_number_and_form() -> None:
    reg = registry("business")
    shop = {
        **example("business"),
        "kind": "household_business",
        "registration_number": "01A8012345",
        "legal_form": "household_business",
        "name": "Hộ kinh doanh Tạp hóa Bình An",
    }
    assert reg.errors(shop) == []
    assert locs(reg.errors({**shop, "legal_form": "joint_stock"})).get(("legal_form",)) == (
        "Choose one of the allowed values"
    )
