"""The citizen's pages over HTTP on both databases: catalogue and filters, the procedure, the prefilled
form with sources and read-only values, field errors with a linked summary, upload, idempotent submit,
the receipt, "Hồ sơ của tôi", messages, withdrawal, CSRF."""

from __future__ import annotations

import html
import re
import uuid
from datetime import date, timedelta

from eskit import citizen_login, official, pdf_bytes
from httpx import AsyncClient, Response
from sqlalchemy import func, select, update
from sqlalchemy import text as text_sql

from dgov.eservices import dossiers, dossiers_citizen
from dgov.eservices.dossiers import ALLOWED
from dgov.eservices.dossiers_citizen import Applicant
from dgov.eservices.models import dossiers as t_dossiers
from dgov.identity import Principal
from dgov.registries.demo import BINH
from dgov.web.runtime import Runtime

PDF = pdf_bytes()
FORM = "/dich-vu-cong/birth-bundle/nop"


def text(r: Response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", r.text)).split())


def hidden(r: Response, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', r.text)
    assert m, name
    return m.group(1)


async def login_binh(rt: Runtime, client: AsyncClient) -> None:
    await citizen_login(rt, client, BINH, "Trần Thị Bình", date(1992, 7, 20), "F")


def typed(r: Response, **extra: str) -> dict[str, str]:
    return {
        "csrftoken": hidden(r, "csrftoken"),
        "draft_id": hidden(r, "draft_id"),
        "idempotency_key": hidden(r, "idempotency_key"),
        "child.surname": "Nguyễn",
        "child.middle_name": "Ngọc",
        "child.given_name": "Minh",
        "child.sex": "F",
        "child.birth_date": "2026-11-20",
        "child.birth_place": "Bệnh viện Phụ sản Hà Nội",
        "child.ethnicity": "Kinh",
        "child.nationality": "VN",
        "residence.household_of": "father",
        "residence.relationship_to_head": "Con",
        "insurance.initial_clinic": "01-012",
        "insurance.card_delivery": "post",
        "action": "submit",
        **extra,
    }


async def test_the_catalogue_lists_searches_and_filters(client: AsyncClient) -> None:
    r = await client.get("/dich-vu-cong")
    assert r.status_code == 200
    page = text(r)
    for name in ("Đăng ký khai sinh", "Đăng ký kết hôn", "Cấp Phiếu lý lịch tư pháp", "Đăng ký tạm trú"):
        assert name in page
    r = await client.get("/dich-vu-cong", params={"q": "ket hon"})
    assert "Đăng ký kết hôn" in text(r) and "Đăng ký tạm trú" not in text(r)
    r = await client.get("/dich-vu-cong", params={"agency": "BHXH"})
    assert "Giải quyết hưởng trợ cấp mai táng" in text(r) and "Đăng ký kết hôn" not in text(r)
    r = await client.get("/dich-vu-cong", params={"level": "partial"})
    assert "Cấp giấy phép xây dựng nhà ở riêng lẻ" in text(r) and "Đăng ký tạm trú" not in text(r)
    r = await client.get("/dich-vu-cong", params={"field": "nonsense"})  # an unknown filter is ignored
    assert r.status_code == 200 and "Đăng ký tạm trú" in text(r)


async def test_the_procedure_page(client: AsyncClient) -> None:
    r = await client.get("/dich-vu-cong/birth-bundle")
    assert r.status_code == 200
    page = text(r)
    assert "Nghị định 63/2024/NĐ-CP" in page and "2.000986" in page
    assert "Đăng ký khai sinh" in page and "Đăng ký thường trú" in page
    assert 'href="/dich-vu-cong/birth-bundle/nop"' in r.text
    assert (await client.get("/dich-vu-cong/no-such-thing")).status_code == 404


async def test_the_form_needs_a_login(client: AsyncClient) -> None:
    r = await client.get(FORM)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


async def test_the_form_is_prefilled_with_sources_and_read_only_values(
    rt: Runtime, client: AsyncClient
) -> None:
    await login_binh(rt, client)
    r = await client.get(FORM)
    assert r.status_code == 200, r.text
    assert re.search(r'<label for="f-child-given_name">', r.text)
    assert re.search(
        r'id="f-father-id_number" name="father.id_number" type="text" value="001090012345" readonly', r.text
    )
    assert 'id="f-father-id_number-source"' in r.text
    assert re.search(r'<input id="f-child-surname" name="child.surname" type="text" value="Nguyễn"', r.text)
    assert 'type="file"' in r.text and 'enctype="multipart/form-data"' in r.text
    assert hidden(r, "idempotency_key")


async def test_showing_the_form_stores_nothing_the_first_post_creates_the_draft(
    rt: Runtime, client: AsyncClient
) -> None:
    await login_binh(rt, client)

    async def rows() -> list[dict[str, object]]:
        async with rt.db.uow(readonly=True) as uow:
            return [dict(r) for r in (await uow.session.execute(select(t_dossiers))).mappings().all()]

    first = await client.get(FORM)
    again = await client.get(FORM)
    assert first.status_code == again.status_code == 200
    assert await rows() == []  # a GET (a link followed, a prefetch) leaves no draft behind
    draft_id = hidden(first, "draft_id")
    r = await client.post(FORM, data={**typed(first), "action": "save", "father.id_number": "079085001234"})
    assert r.status_code == 200, r.text
    saved = await rows()
    assert [(str(x["id"]), x["status"]) for x in saved] == [(draft_id, "draft")]
    # The prefill was read again on the server, not taken from the page.
    assert saved[0]["data"]["father"]["id_number"] == "001090012345"
    assert saved[0]["data"]["child"]["given_name"] == "Minh"
    # From now on the page shows that draft.
    assert hidden(await client.get(FORM), "draft_id") == draft_id
    assert len(await rows()) == 1


async def test_errors_are_listed_and_linked_to_their_fields(rt: Runtime, client: AsyncClient) -> None:
    await login_binh(rt, client)
    form = await client.get(FORM)
    data = typed(form, **{"child.given_name": "", "child.birth_date": "2026-02-30"})
    r = await client.post(FORM, data=data)
    assert r.status_code == 422
    assert 'class="error-summary"' in r.text
    assert 'href="#f-child-given_name"' in r.text and 'href="#f-child-birth_date"' in r.text
    assert 'href="#doc-birth_notice"' in r.text  # the birth notice is missing
    assert 'aria-invalid="true"' in r.text and 'id="f-child-given_name-error"' in r.text
    # What was typed is shown again; nothing was submitted.
    assert 'value="Ngọc"' in r.text
    async with rt.db.uow(readonly=True) as uow:
        statuses = (await uow.session.execute(select(t_dossiers.c.status))).scalars().all()
    assert statuses == ["draft"]


async def test_submit_with_the_birth_notice_then_double_click(rt: Runtime, client: AsyncClient) -> None:
    await login_binh(rt, client)
    form = await client.get(FORM)
    data = typed(form, **{"father.id_number": "079085001234"})  # a tampered read-only value
    files = {"doc-birth_notice": ("giay-chung-sinh.pdf", PDF, "application/pdf")}
    first = await client.post(FORM, data=data, files=files)
    assert first.status_code == 303, first.text
    receipt_url = first.headers["location"]
    assert receipt_url.endswith("/bien-nhan")
    second = await client.post(FORM, data=data)  # the same form sent again
    assert second.status_code == 303 and second.headers["location"] == receipt_url
    async with rt.db.uow(readonly=True) as uow:
        rows = (await uow.session.execute(select(t_dossiers))).mappings().all()
    # The workflow may already have taken the dossier further (the bundle is received automatically).
    assert len(rows) == 1 and rows[0]["status"] in ("submitted", "received", "in_processing")
    assert rows[0]["data"]["father"]["id_number"] == "001090012345"
    receipt = await client.get(receipt_url)
    assert receipt.status_code == 200
    assert rows[0]["code"] in receipt.text and "<svg" in receipt.text
    mine = await client.get("/ho-so")
    assert rows[0]["code"] in mine.text
    detail = await client.get(f"/ho-so/{rows[0]['id']}")
    notice = rows[0]["attachments"][0]["code"]
    assert f"/ho-so/{rows[0]['id']}/tep/{notice}" in detail.text
    download = await client.get(f"/ho-so/{rows[0]['id']}/tep/{notice}")
    assert download.status_code == 200 and download.content == PDF
    assert (await client.get(f"/ho-so/{rows[0]['id']}/tep/TL-0000-000000")).status_code == 404
    assert "Khai sinh" in text(detail) or rows[0]["code"] in detail.text
    r = await client.post(
        f"/ho-so/{rows[0]['id']}/tin-nhan",
        data={"csrftoken": client.cookies["csrftoken"], "body": "Xin hỏi tiến độ"},
    )
    assert r.status_code == 303
    assert "Xin hỏi tiến độ" in (await client.get(f"/ho-so/{rows[0]['id']}")).text
    r = await client.post(
        f"/ho-so/{rows[0]['id']}/tin-nhan", data={"csrftoken": client.cookies["csrftoken"], "body": ""}
    )
    assert r.status_code == 422 and 'id="body-error"' in r.text
    async with rt.db.uow(readonly=True) as uow:
        status = (await uow.session.execute(select(t_dossiers.c.status))).scalar_one()
    r = await client.post(
        f"/ho-so/{rows[0]['id']}/rut", data={"csrftoken": client.cookies["csrftoken"], "reason": "Nhầm"}
    )
    if "withdrawn" in ALLOWED[status]:
        assert r.status_code == 303
        expected = "withdrawn"
    else:  # once in processing it can no longer be withdrawn: refused, nothing changes
        assert r.status_code == 409
        expected = status
    async with rt.db.uow(readonly=True) as uow:
        assert (await uow.session.execute(select(t_dossiers.c.status))).scalar_one() == expected


async def test_forms_without_the_csrf_token_are_refused(rt: Runtime, client: AsyncClient) -> None:
    await login_binh(rt, client)
    form = await client.get(FORM)
    data = typed(form)
    del data["csrftoken"]
    r = await client.post(FORM, data=data)
    assert r.status_code == 403
    files = {"doc-birth_notice": ("giay-chung-sinh.pdf", PDF, "application/pdf")}
    r = await client.post(FORM, data=data, files=files)  # multipart without the token
    assert r.status_code == 403
    r = await client.post(FORM, data={**data, "csrftoken": "forged"}, files=files)
    assert r.status_code == 403
    async with rt.db.uow(readonly=True) as uow:
        assert (
            await uow.session.execute(
                select(func.count()).select_from(t_dossiers).where(t_dossiers.c.status != "draft")
            )
        ).scalar_one() == 0


async def test_someone_elses_dossier_is_not_shown(rt: Runtime, client: AsyncClient) -> None:
    await login_binh(rt, client)
    form = await client.get(FORM)
    draft = hidden(form, "draft_id")
    client.cookies.clear()
    assert (await client.get(f"/ho-so/{draft}")).status_code == 303  # anonymous: to the login page
    r = await client.get("/ho-so/not-a-uuid")
    assert r.status_code in (303, 404)


async def test_the_apology_letter_page(rt: Runtime, client: AsyncClient) -> None:
    await login_binh(rt, client)
    login = await client.get("/ho-so")  # the session is Bình's
    assert login.status_code == 200
    async with rt.db.uow(readonly=True) as uow:
        account = (
            await uow.session.execute(
                text_sql("select id from identity_accounts where id_number = :n"), {"n": BINH}
            )
        ).scalar_one()
    who = Applicant(
        Principal(kind="citizen", account_id=uuid.UUID(str(account)), level=1), BINH, "Trần Thị Bình"
    )
    d = await dossiers_citizen.submit(
        rt,
        who,
        "judicial-record",
        {"request": {"form_type": "1", "purpose": "Xin việc", "copies": 1, "delivery": "post"}},
        idempotency_key="apology-1",
    )
    today = dossiers.vn_today()
    async with rt.db.uow() as uow:  # as if its appointment had passed
        await uow.session.execute(
            update(t_dossiers).where(t_dossiers.c.id == d.id).values(due_date=today - timedelta(days=1))
        )
        new_due = dossiers.calendar().add_working_days(today, 2)
        await dossiers.apologise(
            uow,
            d.id,
            actor=official("BCA", "residence_officer", "*"),
            reason="Chờ kết quả xác minh",
            new_due=new_due,
            actor_name="Công an tỉnh",
        )
        await uow.commit()
    page = await client.get(f"/ho-so/{d.id}")
    m = re.search(rf'href="(/ho-so/{d.id}/thu-xin-loi/[^"]+)"', page.text)
    assert m, page.text
    letter = await client.get(m.group(1))
    assert letter.status_code == 200
    shown = text(letter)
    assert d.code in shown and "Chờ kết quả xác minh" in shown and new_due.strftime("%d/%m/%Y") in shown


async def test_saving_the_draft_keeps_what_was_typed(rt: Runtime, client: AsyncClient) -> None:
    await login_binh(rt, client)
    form = await client.get(FORM)
    data = {
        "csrftoken": hidden(form, "csrftoken"),
        "draft_id": hidden(form, "draft_id"),
        "idempotency_key": hidden(form, "idempotency_key"),
        "child.given_name": "Minh",
        "action": "save",
    }
    r = await client.post(FORM, data=data)
    assert r.status_code == 200 and 'role="status"' in r.text
    again = await client.get(FORM)
    assert hidden(again, "draft_id") == data["draft_id"]
    assert re.search(r'id="f-child-given_name" name="child.given_name" type="text" value="Minh"', again.text)
