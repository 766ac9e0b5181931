"""Forms: reading a post, checking it against the procedure's schema with messages per field in the
form's order, read-only values restored from the registry, and the view the template renders."""

from __future__ import annotations

from dgov.eservices import forms
from dgov.eservices.catalogue import procedure

BUNDLE = procedure("birth-bundle")
PREFILLED = {
    "applicant.full_name": "Trần Thị Bình",
    "applicant.id_number": "001192034567",
    "applicant.birth_date": "1992-07-20",
    "applicant.relationship": "mother",
    "mother.full_name": "Trần Thị Bình",
    "mother.id_number": "001192034567",
    "father.full_name": "Nguyễn Văn An",
    "father.id_number": "001090012345",
    "child.surname": "Nguyễn",
    "child.ethnicity": "Kinh",
    "child.nationality": "VN",
    "residence.head_full_name": "Nguyễn Văn An",
    "residence.address": "Số 12 phố Đội Cấn",
}
READONLY = {r["path"] for r in BUNDLE.prefill if r["mode"] == "readonly"}
TYPED = {
    "child.given_name": "Minh",
    "child.middle_name": "Ngọc",
    "child.sex": "F",
    "child.birth_date": "2026-11-20",
    "child.birth_place": "Bệnh viện Phụ sản Hà Nội",
    "residence.household_of": "father",
    "insurance.initial_clinic": "01-012",
}


def complete() -> dict:
    data = forms.initial(BUNDLE, PREFILLED)
    for path, value in TYPED.items():
        forms.set_path(data, path, value)
    return data


def test_a_complete_form_is_valid() -> None:
    assert forms.validate(BUNDLE, complete()) == []


def test_missing_and_bad_fields_are_reported_in_the_order_of_the_form() -> None:
    data = complete()
    del data["child"]["given_name"]
    data["child"]["sex"] = "X"
    data["child"]["birth_date"] = "2026-02-30"
    data["insurance"]["initial_clinic"] = "99-999"
    errors = forms.validate(BUNDLE, data)
    paths = [".".join(map(str, e.loc)) for e in errors]
    assert paths == ["child.given_name", "child.sex", "child.birth_date", "insurance.initial_clinic"]
    msgs = {".".join(map(str, e.loc)): e.message for e in errors}
    assert msgs["child.given_name"] == "This field is required"
    assert msgs["child.sex"] == "Choose one of the options"
    assert msgs["child.birth_date"] == "Enter a real date (day, month and year)"


def test_a_whole_missing_section_reports_its_required_fields() -> None:
    data = complete()
    del data["insurance"]
    paths = {".".join(map(str, e.loc)) for e in forms.validate(BUNDLE, data)}
    assert paths == {"insurance.initial_clinic", "insurance.card_delivery"}


def test_posted_text_is_read_by_dotted_names_numbers_converted_blanks_dropped() -> None:
    permit = procedure("construction-permit")
    data = forms.from_post(
        permit,
        {"site.floors": "3", "site.height_m": "11,5", "site.address": "  ", "x.y": "z", "site.parcel": "12"},
    )
    assert data["site"] == {"floors": 3, "height_m": 11.5, "parcel": "12"}
    bad = forms.from_post(permit, {"site.floors": "ba"})
    assert bad["site"]["floors"] == "ba"
    errors = {".".join(map(str, e.loc)): e.message for e in forms.validate(permit, bad)}
    assert errors["site.floors"] == "Enter a number"


def test_tampered_read_only_values_are_replaced_by_the_registry_values() -> None:
    posted = complete()
    posted["father"]["id_number"] = "079085001234"
    posted["mother"]["full_name"] = "Someone Else"
    clean = forms.authoritative(posted, PREFILLED, READONLY)
    assert clean["father"]["id_number"] == "001090012345"
    assert clean["mother"]["full_name"] == "Trần Thị Bình"
    # Editable proposals stay what the citizen chose.
    posted["child"]["surname"] = "Trần"
    assert forms.authoritative(posted, PREFILLED, READONLY)["child"]["surname"] == "Trần"


def test_too_long_text_is_refused() -> None:
    data = complete()
    data["child"]["birth_place"] = "x" * (forms.MAX_TEXT + 1)
    assert any(e.message == "This is too long" for e in forms.validate(BUNDLE, data))


def test_the_view_has_labels_ids_sources_and_errors() -> None:
    sources = {
        p: {
            "registry": "population",
            "agency": "BCA",
            "changed_at": "2026-01-01T00:00:00+00:00",
            "mode": "readonly" if p in READONLY else "default",
        }
        for p in PREFILLED
    }
    sections = forms.view(
        BUNDLE, complete(), sources=sources, errors={"child.given_name": "Bắt buộc"}, lang="vi"
    )
    assert [s.key for s in sections] == ["applicant", "child", "mother", "father", "residence", "insurance"]
    fields = {f.path: f for s in sections for f in s.fields}
    assert fields["child.given_name"].id == "f-child-given_name"
    assert fields["child.given_name"].label == "Tên" and fields["child.given_name"].error == "Bắt buộc"
    assert fields["mother.id_number"].readonly and fields["mother.id_number"].source
    assert not fields["child.surname"].readonly and fields["child.surname"].source
    assert fields["child.sex"].widget == "radio" and fields["child.sex"].options == [
        ("M", "Nam"),
        ("F", "Nữ"),
    ]
    assert fields["child.birth_date"].widget == "date"
