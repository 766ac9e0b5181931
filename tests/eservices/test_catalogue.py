"""The catalogue: every shipped procedure file validates against the format, cross-references hold, bad
files are refused with the file and the reason, search folds diacritics, the CLI contract holds."""

from __future__ import annotations

import copy
import json
from importlib.resources import files

import pytest
from typer.testing import CliRunner

from dgov.eservices import catalogue
from dgov.eservices.catalogue import CatalogueError, load_files, typed_fields
from dgov.eservices.cli import app

REQUIRED = {
    "birth-registration",
    "marriage-registration",
    "marital-status-confirmation",
    "death-registration",
    "permanent-residence",
    "temporary-residence",
    "child-health-insurance",
    "funeral-allowance",
    "household-business",
    "judicial-record",
    "construction-permit",
    "birth-bundle",
}
CLI_KEYS = {
    "id",
    "code",
    "name",
    "agency",
    "field",
    "level",
    "fee",
    "deadline_days",
    "process",
    "branches",
    "documents",
    "legal_basis",
    "typed_fields",
}


def shipped() -> dict[str, dict]:
    folder = files("dgov.eservices") / "procedures"
    return {
        p.name: json.loads(p.read_text(encoding="utf-8"))
        for p in folder.iterdir()
        if p.name.endswith(".json")
    }


def load(raws: dict[str, dict]) -> dict[str, catalogue.Procedure]:
    return load_files((name, json.dumps(raw)) for name, raw in raws.items())


def test_every_shipped_procedure_loads_and_the_twelve_are_there() -> None:
    procs = catalogue.catalogue()
    assert set(procs) >= REQUIRED
    assert len(procs) >= 12
    for proc in procs.values():
        assert proc.raw["legal_basis"], proc.id
        assert proc.process.endswith(".bpmn")
        assert proc.fields, proc.id


def test_every_process_file_exists_in_the_bpmn_folder() -> None:
    bpmn = {p.name for p in (files("dgov.eservices") / "bpmn").iterdir()}
    for proc in catalogue.catalogue().values():
        assert proc.process in bpmn, proc.id
        for branch in proc.branches:
            assert branch["process"] in bpmn, (proc.id, branch["key"])


def test_the_birth_bundle_routes_to_justice_police_and_social_insurance() -> None:
    bundle = catalogue.procedure("birth-bundle")
    assert {b["key"]: b["agency"]["member"] for b in bundle.branches} == {
        "civil_status": "BTP",
        "residence": "BCA",
        "health_insurance": "BHXH",
    }
    assert {b["procedure"] for b in bundle.branches} == {
        "birth-registration",
        "permanent-residence",
        "child-health-insurance",
    }
    assert any("63/2024" in b["ref"] for b in bundle.raw["legal_basis"])


def test_the_parent_types_at_most_eight_fields_of_the_birth_bundle() -> None:
    typed = typed_fields(catalogue.procedure("birth-bundle"))
    assert len(typed) <= 8
    # None of them is something the registries hold about the parents or the household.
    assert not any(p.startswith(("mother.", "father.", "applicant.")) for p in typed)
    assert "residence.address" not in typed and "residence.head_full_name" not in typed


def _one() -> tuple[str, dict]:
    raws = shipped()
    return "birth-registration.json", copy.deepcopy(raws["birth-registration.json"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("legal_basis"), "'legal_basis' is a required property"),
        (lambda r: r.update(level="online"), "/level"),
        (lambda r: r.update(id="Birth Registration"), "/id"),
        (lambda r: r["form"]["ui"]["fields"].pop("child.given_name"), "has no label"),
        (
            lambda r: r["form"]["prefill"].append(
                {
                    "path": "child.nickname",
                    "source": "population",
                    "subject": "applicant",
                    "field": "full_name",
                    "mode": "readonly",
                }
            ),
            "not a field of the form",
        ),
        (lambda r: r["form"]["ui"]["order"].reverse(), "order"),
        (
            lambda r: r["form"]["ui"]["fields"]["child.sex"]["options"].update(X={"vi": "x", "en": "x"}),
            "option 'X'",
        ),
    ],
)
def test_a_bad_procedure_file_is_refused_with_its_name_and_reason(change, message) -> None:  # type: ignore[no-untyped-def]
    name, raw = _one()
    change(raw)
    with pytest.raises(CatalogueError) as exc:
        load({name: raw})
    assert name in str(exc.value) and message in str(exc.value)


def test_the_id_must_match_the_file_name_and_branches_must_exist() -> None:
    name, raw = _one()
    with pytest.raises(CatalogueError, match="must match the file name"):
        load({"other.json": raw})
    bundle = copy.deepcopy(shipped()["birth-bundle.json"])
    with pytest.raises(CatalogueError, match="unknown procedure"):
        load({"birth-bundle.json": bundle, name: raw})


def test_search_ignores_case_and_diacritics_and_filters_combine() -> None:
    ids = {p.id for p in catalogue.search("khai sinh")}
    assert {"birth-registration", "birth-bundle"} <= ids
    assert {p.id for p in catalogue.search("KHAI SINH")} == ids
    assert {p.id for p in catalogue.search("1.001193")} == {"birth-registration"}
    police = {p.id for p in catalogue.search(agency="BCA")}
    assert {
        "permanent-residence",
        "temporary-residence",
        "birth-bundle",
    } <= police  # a bundle's branch counts
    assert all(p.level == "partial" for p in catalogue.search(level="partial"))
    assert {p.id for p in catalogue.search("thường trú", agency="BCA", field_name="residence")} == {
        "permanent-residence"
    }
    assert catalogue.search("không có thủ tục này") == []


def test_cli_list_json_is_the_documented_contract() -> None:
    result = CliRunner().invoke(app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {r["id"] for r in rows} >= REQUIRED
    for r in rows:
        assert set(r) == CLI_KEYS
        assert set(r["name"]) == {"vi", "en"} and set(r["agency"]) == {"member", "level", "code"}
        assert isinstance(r["deadline_days"], int) and isinstance(r["typed_fields"], int)
    bundle = next(r for r in rows if r["id"] == "birth-bundle")
    assert [b["agency"] for b in bundle["branches"]] == ["BTP", "BCA", "BHXH"]


def test_cli_list_filters() -> None:
    result = CliRunner().invoke(app, ["list", "--json", "--agency", "BHXH"])
    assert result.exit_code == 0, result.output
    assert {r["id"] for r in json.loads(result.output)} == {
        "child-health-insurance",
        "funeral-allowance",
        "birth-bundle",
    }
