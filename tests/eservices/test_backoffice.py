"""The officials' back office over HTTP on both databases: login required, queues by agency/role/unit,
the dossier with its sources, actions with CSRF and field errors, bulk assignment; the citizen's inbox."""

from __future__ import annotations

import html
import re
from datetime import date
from typing import Any

from httpx import AsyncClient, Response
from sqlalchemy import select

from dgov.eservices import workflow
from dgov.eservices.workflow_demo import AN, _family_form, citizen, direct_submit
from dgov.eservices.workflow_models import WorkItem
from dgov.identity import SYSTEM
from dgov.identity import login as login_uc
from dgov.identity import service as id_service
from dgov.identity.context import IdentityContext
from dgov.kernel.uow import Database
from dgov.registries.demo import CUONG
from dgov.web.runtime import Runtime

PASSWORD = "Mật-khẩu-cán-bộ-2026!"


def _ctx(rt: Runtime) -> IdentityContext:
    ctx = rt.extras.get("identity")
    if ctx is None:
        ctx = rt.extras["identity"] = IdentityContext(db=rt.db, secret=rt.secret, issuer=rt.settings.issuer)
    return ctx


async def _official(
    rt: Runtime,
    http: AsyncClient | None,
    username: str,
    agency: str,
    role: str,
    unit: str,
    full_name: str = "Cán bộ thử",
) -> str:
    account = await id_service.add_official(
        _ctx(rt),
        SYSTEM,
        username=username,
        full_name=full_name,
        agency=agency,
        role=role,
        unit=unit,
        password=PASSWORD,
    )
    if http is not None:
        step = await login_uc.password_step(
            _ctx(rt), identifier=username, password=PASSWORD, ip=None, user_agent=None
        )
        http.cookies.set("dgov_session", step.token)
    return f"official:{account.id}"


def text(r: Response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", r.text)).split())


def csrf(r: Response) -> str:
    m = re.search(r'name="csrftoken" value="([^"]+)"', r.text)
    assert m, r.text[:2000]
    return m.group(1)


async def _bundle(rt: Runtime) -> Any:
    async with rt.db.uow() as uow:
        await workflow.deploy_repo(uow, actor="operator:test", names=["birth_bundle"])
        await uow.commit()
    return await direct_submit(
        rt, citizen(AN), AN, "Nguyễn Văn An", "birth-bundle", await _family_form(rt, AN, 0)
    )


async def _items(db: Database, dossier_id: Any) -> dict[str, WorkItem]:
    async with db.uow(readonly=True) as uow:
        rows = await uow.session.scalars(select(WorkItem).where(WorkItem.dossier_id == dossier_id))
        return {w.agency: w for w in rows if w.status in ("open", "claimed")}


async def test_the_queue_needs_an_official(client: AsyncClient) -> None:
    r = await client.get("/can-bo")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def test_queues_dossier_view_and_actions(
    client: AsyncClient, runtime: Runtime, families: Database
) -> None:
    d = await _bundle(runtime)
    await _official(runtime, client, "hotich.test", "BTP", "civil_status_officer", "00004")
    r = await client.get("/can-bo")
    assert r.status_code == 200 and d.code in r.text
    assert "Duyệt đăng ký khai sinh" in text(r) and "Duyệt đăng ký thường trú" not in text(r)
    r = await client.get("/can-bo", params={"status": "overdue"})
    assert d.code not in r.text
    r = await client.get(f"/can-bo/ho-so/{d.id}")
    assert r.status_code == 200
    page = text(r)
    assert "Data of the dossier and where it came from" in page or "nguồn" in page.lower()
    assert "Nguyễn Văn An" in page and "child.given_name" in page
    token = csrf(r)
    item = (await _items(runtime.db, d.id))["BTP"]
    # no CSRF token: refused, nothing changes
    r = await client.post(f"/can-bo/viec/{item.id}", data={"action": "approve"})
    assert r.status_code == 403
    # reject without a reason: a field error, nothing changes
    r = await client.post(
        f"/can-bo/viec/{item.id}", data={"action": "reject", "reason": "", "csrftoken": token}
    )
    assert r.status_code == 422 and 'id="error-summary"' in r.text
    assert (await _items(runtime.db, d.id))["BTP"].status == "open"
    r = await client.post(f"/can-bo/viec/{item.id}", data={"action": "approve", "csrftoken": token})
    assert r.status_code == 303
    assert "BTP" not in await _items(runtime.db, d.id)
    # another agency's task is not this official's
    other = (await _items(runtime.db, d.id))["BCA"]
    r = await client.post(f"/can-bo/viec/{other.id}", data={"action": "approve", "csrftoken": token})
    assert r.status_code == 403
    assert (await _items(runtime.db, d.id))["BCA"].status == "open"


async def test_bulk_assignment_page(client: AsyncClient, runtime: Runtime, families: Database) -> None:
    d1, d2 = await _bundle(runtime), await _bundle(runtime)
    colleague = await _official(
        runtime, None, "cutru.dongnghiep", "BCA", "residence_officer", "00004", "Phạm Thị Đồng Nghiệp"
    )
    await _official(runtime, None, "cutru.xa.khac", "BCA", "residence_officer", "26740", "Võ Văn Xã Khác")
    await _official(runtime, client, "cutru.test", "BCA", "residence_officer", "00004")
    r = await client.get("/can-bo")
    token = csrf(r)
    # The assignee is picked by name from the officials who may do the task; the id is what is sent.
    picker = re.search(r'<select id="assignee" name="assignee".*?</select>', r.text, re.S)
    assert picker, r.text[:3000]
    assert f'<option value="{colleague}"' in picker.group(0) and "Phạm Thị Đồng Nghiệp" in picker.group(0)
    assert "Võ Văn Xã Khác" not in picker.group(0)  # another commune's officer is not offered
    ids = [str((await _items(runtime.db, d.id))["BCA"].id) for d in (d1, d2)]
    # A made-up id is refused with a field error; nothing changes.
    r = await client.post(
        "/can-bo/giao", data={"items": ids, "assignee": "official:dong-nghiep", "csrftoken": token}
    )
    assert r.status_code == 422 and 'id="assignee-error"' in r.text
    assert {(await _items(runtime.db, d.id))["BCA"].assignee for d in (d1, d2)} == {None}
    r = await client.post("/can-bo/giao", data={"items": ids, "assignee": colleague, "csrftoken": token})
    assert r.status_code == 303
    assert {(await _items(runtime.db, d.id))["BCA"].assignee for d in (d1, d2)} == {colleague}
    # The queue shows the assignee's name, not an id.
    queue = text(await client.get("/can-bo"))
    assert "Phạm Thị Đồng Nghiệp" in queue and colleague not in queue


async def test_a_citizen_is_refused_the_back_office(
    client: AsyncClient, runtime: Runtime, families: Database
) -> None:

    await id_service.add_citizen(
        _ctx(runtime),
        SYSTEM,
        id_number=CUONG,
        full_name="Lê Văn Cường",
        birth_date=date(1985, 11, 2),
        sex="M",
        password=PASSWORD,
    )
    step = await login_uc.password_step(
        _ctx(runtime), identifier=CUONG, password=PASSWORD, ip=None, user_agent=None
    )
    client.cookies.set("dgov_session", step.token)
    r = await client.get("/can-bo")
    assert r.status_code == 403
    r = await client.get("/hop-thu")
    assert r.status_code == 200 and 'id="inbox-empty"' in r.text
