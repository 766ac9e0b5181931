"""Everyone a dossier names is checked against the registries at submission (through the exchange), on
both databases: a child of another family is refused; so is a parent's name that does not match the
ID number, and an applicant who is not a parent. A father who is not the mother's husband on record
becomes a declaration he must confirm in his own account: until he does, nothing is written to his
records (no process, no work item, no child on his record or in his household); if he refuses, the
dossier is rejected and still nothing is written; once he confirms, the process starts."""

from __future__ import annotations

import html
import re
import uuid
from datetime import date
from typing import Any

import pytest
from eskit import citizen, citizen_login, pdf_bytes
from httpx import AsyncClient
from sqlalchemy import select

from dgov.eservices import declarations, dossiers, dossiers_attachments, dossiers_citizen
from dgov.eservices.dossiers_citizen import Applicant
from dgov.eservices.models import declarations as t_decl
from dgov.eservices.models import dossiers as t_dossiers
from dgov.eservices.workflow_models import WorkflowInstance, WorkItem
from dgov.identity import SYSTEM
from dgov.kernel.errors import ValidationFailed
from dgov.registries import RegistriesContext, create_record, read_record
from dgov.registries.demo import AN, BINH, CUONG, CUONG_HOUSEHOLD, KHANG
from dgov.web.runtime import Runtime

MAI = "001195054321"  # an unmarried mother, head of her own household
MAI_HOUSEHOLD = "00004-9000077"
MAI_ACCOUNT = uuid.UUID("0190aaaa-0000-7000-8000-0000000000aa")
CUONG_ACCOUNT = uuid.UUID("0190aaaa-0000-7000-8000-000000000003")


@pytest.fixture
async def mrt(rt: Runtime) -> Runtime:
    ctx = RegistriesContext(db=rt.db)
    home = {"street": "Số 3 ngõ Hàng Bún", "commune_code": "00004", "province_code": "01"}
    await create_record(
        ctx,
        SYSTEM,
        "population",
        {
            "id_number": MAI,
            "surname": "Đỗ",
            "middle_name": "Thị",
            "given_name": "Mai",
            "full_name": "Đỗ Thị Mai",
            "birth_date": "1995-04-10",
            "sex": "F",
            "ethnicity": "Kinh",
            "nationality": "VN",
            "permanent_address": home,
            "household_id": MAI_HOUSEHOLD,
            "status": "alive",
        },
    )
    await create_record(
        ctx,
        SYSTEM,
        "residence",
        {
            "household_id": MAI_HOUSEHOLD,
            "residence_type": "permanent",
            "head_id_number": MAI,
            "head_full_name": "Đỗ Thị Mai",
            "address": home,
            "members": [{"id_number": MAI, "full_name": "Đỗ Thị Mai", "relationship_to_head": "head"}],
            "registered_on": "2020-01-02",
            "authority": {"name": "Công an Phường Ba Đình", "commune_code": "00004"},
            "status": "active",
        },
    )
    return rt


def _child() -> dict[str, Any]:
    return {
        "surname": "Đỗ",
        "middle_name": "Minh",
        "given_name": "Châu",
        "sex": "F",
        "birth_date": "2026-11-30",
        "birth_place": "Bệnh viện Phụ sản Hà Nội",
        "ethnicity": "Kinh",
        "nationality": "VN",
    }


async def _birth_draft(rt: Runtime, who: Applicant) -> Any:
    d = await dossiers_citizen.open_draft(rt, who, "birth-bundle")
    await dossiers_attachments.attach_upload(
        rt, who, d.id, "birth_notice", filename="giay-chung-sinh.pdf", data=pdf_bytes()
    )
    return d


def _form(d: Any, **sections: dict[str, Any]) -> dict[str, Any]:
    data = {k: dict(v) for k, v in d.data.items()}
    data["child"] = _child()
    data["residence"] = {"household_of": "mother", "relationship_to_head": "child"}
    data["insurance"] = {"initial_clinic": "01-001", "card_delivery": "post"}
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return data


async def _state(rt: Runtime, dossier_id: uuid.UUID) -> tuple[str, int, int, list[dict[str, Any]]]:
    async with rt.db.uow(readonly=True) as uow:
        status = (await dossiers.get(uow, dossier_id)).status
        instances = len(
            list(
                await uow.session.scalars(
                    select(WorkflowInstance).where(WorkflowInstance.dossier_id == dossier_id)
                )
            )
        )
        items = len(
            list(await uow.session.scalars(select(WorkItem).where(WorkItem.dossier_id == dossier_id)))
        )
        decls = [dict(r) for r in (await uow.session.execute(select(t_decl))).mappings().all()]
    return status, instances, items, decls


async def test_a_child_of_another_family_is_refused(rt: Runtime) -> None:
    cuong = Applicant(citizen(CUONG_ACCOUNT), CUONG, "Lê Văn Cường")
    d = await dossiers_citizen.open_draft(rt, cuong, "child-health-insurance")
    data = {k: dict(v) for k, v in d.data.items()}
    # Khang is An and Bình's son: every detail typed is right, but he is not Cường's child.
    data["child"] = {
        "full_name": "Nguyễn Minh Khang",
        "id_number": KHANG,
        "birth_date": "2016-09-01",
        "sex": "M",
    }
    data["insurance"] = {"initial_clinic": "01-001", "card_delivery": "post"}
    with pytest.raises(ValidationFailed) as exc:
        await dossiers_citizen.submit(
            rt, cuong, "child-health-insurance", data, idempotency_key="k1", draft_id=d.id
        )
    assert [(e.loc, e.message) for e in exc.value.errors] == [
        (("child", "id_number"), "This person is not your child according to the population registry")
    ]
    # A made-up ID number and a wrong name are refused on their fields.
    data["child"] = {**data["child"], "id_number": "001216999999"}
    with pytest.raises(ValidationFailed) as exc:
        await dossiers_citizen.submit(
            rt, cuong, "child-health-insurance", data, idempotency_key="k2", draft_id=d.id
        )
    assert [e.loc for e in exc.value.errors] == [("child", "id_number")]
    assert (await _state(rt, d.id))[:3] == ("draft", 0, 0)  # nothing submitted, no process
    # His own parent, An, filing for Khang: accepted.
    an = Applicant(citizen(uuid.UUID("0190aaaa-0000-7000-8000-000000000001")), AN, "Nguyễn Văn An")
    mine = await dossiers_citizen.open_draft(rt, an, "child-health-insurance")
    ok = {k: dict(v) for k, v in mine.data.items()}
    ok["child"] = {
        "full_name": "Nguyễn Minh Khang",
        "id_number": KHANG,
        "birth_date": "2016-09-01",
        "sex": "M",
    }
    ok["insurance"] = {"initial_clinic": "01-001", "card_delivery": "post"}
    done = await dossiers_citizen.submit(
        rt, an, "child-health-insurance", ok, idempotency_key="k3", draft_id=mine.id
    )
    assert done.status != "draft" and (await _state(rt, done.id))[1] == 1


async def test_names_and_parenthood_are_checked(mrt: Runtime) -> None:
    mai = Applicant(citizen(MAI_ACCOUNT), MAI, "Đỗ Thị Mai")
    d = await _birth_draft(mrt, mai)
    # No spouse on record: the father's fields are hers to type. A wrong name for the ID is refused.
    data = _form(d, father={"id_number": CUONG, "full_name": "Lê Văn Cương"})
    with pytest.raises(ValidationFailed) as exc:
        await dossiers_citizen.submit(mrt, mai, "birth-bundle", data, idempotency_key="n1", draft_id=d.id)
    assert [(e.loc, e.message) for e in exc.value.errors] == [
        (("father", "full_name"), "The name does not match the population registry for this ID number")
    ]
    # Cường (no spouse on record) filing as the father: the father's fields are his (the registry's,
    # whatever is typed), and the mother he names is not his wife on record: she must confirm.
    cuong = Applicant(citizen(CUONG_ACCOUNT), CUONG, "Lê Văn Cường")
    other = await _birth_draft(mrt, cuong)
    data = _form(
        other,
        mother={"id_number": BINH, "full_name": "Trần Thị Bình"},
        father={"id_number": AN, "full_name": "Nguyễn Văn An"},  # tampered: put back to Cường
    )
    data["residence"]["household_of"] = "father"
    done = await dossiers_citizen.submit(
        mrt, cuong, "birth-bundle", data, idempotency_key="n2", draft_id=other.id
    )
    status, instances, items, decls = await _state(mrt, done.id)
    assert done.data["father"]["id_number"] == CUONG
    assert (status, instances, items) == ("submitted", 0, 0)
    assert [(x["role"], x["person_id_number"]) for x in decls] == [("mother", BINH)]


async def _mai_names_cuong(rt: Runtime) -> Any:
    mai = Applicant(citizen(MAI_ACCOUNT), MAI, "Đỗ Thị Mai")
    d = await _birth_draft(rt, mai)
    data = _form(d, father={"id_number": CUONG, "full_name": "Lê Văn Cường"})
    return await dossiers_citizen.submit(rt, mai, "birth-bundle", data, idempotency_key="p1", draft_id=d.id)


async def test_a_father_not_on_record_must_confirm_before_anything_is_written(mrt: Runtime) -> None:
    d = await _mai_names_cuong(mrt)
    status, instances, items, decls = await _state(mrt, d.id)
    assert d.code and status == "submitted" and instances == 0 and items == 0
    assert [(x["kind"], x["role"], x["person_id_number"], x["status"]) for x in decls] == [
        ("parent", "father", CUONG, "pending")
    ]
    # The mother cannot confirm for him; nor can anyone but Cường.
    mai_p = citizen(MAI_ACCOUNT)
    with pytest.raises(Exception) as exc:
        await declarations.decide(mrt.db, mai_p, MAI, decls[0]["id"], confirm=True)
    assert type(exc.value).__name__ == "NotFound"
    # He sees it, then confirms: the process starts.
    cuong_p = citizen(CUONG_ACCOUNT)
    [view] = await declarations.for_person(mrt.db, cuong_p, CUONG)
    assert (
        view.applicant_name == "Đỗ Thị Mai"
        and view.child_name == "Đỗ Minh Châu"
        and view.dossier_code == d.code
    )
    await declarations.decide(mrt.db, cuong_p, CUONG, view.id, confirm=True)
    status, instances, _items, decls = await _state(mrt, d.id)
    assert instances == 1 and decls[0]["status"] == "confirmed" and decls[0]["decided_by"] == cuong_p.ref


async def test_a_father_who_refuses_gets_nothing_written(mrt: Runtime) -> None:
    d = await _mai_names_cuong(mrt)
    [view] = await declarations.for_person(mrt.db, citizen(CUONG_ACCOUNT), CUONG)
    await declarations.decide(mrt.db, citizen(CUONG_ACCOUNT), CUONG, view.id, confirm=False)
    status, instances, items, decls = await _state(mrt, d.id)
    assert (status, instances, items, decls[0]["status"]) == ("rejected", 0, 0, "refused")
    ctx = RegistriesContext(mrt.db)
    household = (await read_record(ctx, SYSTEM, "residence", CUONG_HOUSEHOLD, purpose="test")).data
    assert [m["id_number"] for m in household["members"]] == [CUONG]
    async with mrt.db.uow(readonly=True) as uow:
        row = (
            await uow.session.execute(select(t_dossiers.c.status).where(t_dossiers.c.id == d.id))
        ).scalar_one()
    assert row == "rejected"


async def test_the_father_confirms_on_his_own_page(mrt: Runtime, client: AsyncClient) -> None:
    d = await _mai_names_cuong(mrt)
    await citizen_login(mrt, client, CUONG, "Lê Văn Cường", date(1985, 11, 2), "M")
    r = await client.get("/xac-nhan")
    assert r.status_code == 200
    page = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", r.text)).split())
    assert d.code in page and "Đỗ Thị Mai" in page and "Đỗ Minh Châu" in page
    m = re.search(r'action="/xac-nhan/([0-9a-f-]+)"', r.text)
    token = re.search(r'name="csrftoken" value="([^"]+)"', r.text)
    assert m and token
    r = await client.post(f"/xac-nhan/{m.group(1)}", data={"csrftoken": token.group(1), "answer": "confirm"})
    assert r.status_code == 303
    assert (await _state(mrt, d.id))[1] == 1


async def test_a_marriage_needs_two_unmarried_people_as_recorded(rt: Runtime) -> None:
    an = Applicant(citizen(uuid.UUID("0190aaaa-0000-7000-8000-000000000001")), AN, "Nguyễn Văn An")
    d = await dossiers_citizen.open_draft(rt, an, "marriage-registration")
    data = {k: dict(v) for k, v in d.data.items()}
    data["partner"] = {
        "full_name": "Lê Văn Cường",
        "id_number": CUONG,
        "birth_date": "1985-11-03",  # one day off
        "nationality": "VN",
        "residence": "Số 45 đường Lê Lợi",
    }
    data["ceremony"] = {"preferred_date": "2026-12-20"}
    with pytest.raises(ValidationFailed) as exc:
        await dossiers_citizen.submit(
            rt, an, "marriage-registration", data, idempotency_key="m1", draft_id=d.id
        )
    got = {e.loc: e.message for e in exc.value.errors}
    assert got[("partner", "birth_date")].startswith("The date of birth does not match")
    assert got[("applicant", "id_number")] == "You are married according to the population registry"
    assert (await _state(rt, d.id))[:2] == ("draft", 0)
