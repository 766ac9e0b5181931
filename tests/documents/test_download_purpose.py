"""Reading someone else's document from the wallet pages: the purpose is stated in a form posted with
its CSRF token, never taken from the link (issue 12, defect 9)."""

from __future__ import annotations

import re

from docskit import AN, BINH, OFFICIAL_PASSWORD, identity_ctx
from httpx import AsyncClient
from sqlalchemy import select

from dgov.documents import DocumentsContext, store_issued, template
from dgov.documents.models import reads
from dgov.identity import SYSTEM
from dgov.identity import login as login_uc
from dgov.identity import service as id_service
from dgov.web.runtime import Runtime


async def _reads(docs: DocumentsContext) -> list[tuple[str, str]]:
    async with docs.db.uow(readonly=True) as uow:
        rows = await uow.session.execute(select(reads.c.subject_id, reads.c.purpose))
    return sorted((r.subject_id, r.purpose) for r in rows)


async def test_a_purpose_in_the_link_is_ignored_and_the_form_records_it(
    client: AsyncClient, runtime: Runtime, docs: DocumentsContext
) -> None:
    t = template("birth-certificate")
    issued = await store_issued(docs, SYSTEM, template_name=t.name, data=t.example, holders=[AN, BINH])
    code = issued.document.code
    await id_service.add_official(
        identity_ctx(runtime),
        SYSTEM,
        username="ha.btp",
        full_name="Phạm Thu Hà",
        agency="BTP",
        role="civil_status_officer",
        unit="00004",
        password=OFFICIAL_PASSWORD,
    )
    step = await login_uc.password_step(
        identity_ctx(runtime), identifier="ha.btp", password=OFFICIAL_PASSWORD, ip=None, user_agent=None
    )
    client.cookies.set("dgov_session", step.token)

    # A link written by someone else: the purpose in it is not recorded, and no file is sent.
    r = await client.get(f"/wallet/{code}/download", params={"purpose": "Thanh tra theo yêu cầu"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.content != issued.pdf and "Thanh tra theo yêu cầu" not in r.text
    assert 'name="purpose"' in r.text and f'action="/wallet/{code}/download"' in r.text
    token = re.search(r'name="csrftoken" value="([^"]+)"', r.text)
    assert token
    assert await _reads(docs) == []

    # Without its CSRF token the form is refused; with an empty purpose it asks again.
    assert (await client.post(f"/wallet/{code}/download", data={"purpose": "x"})).status_code == 403
    empty = await client.post(f"/wallet/{code}/download", data={"csrftoken": token[1], "purpose": " "})
    assert empty.status_code == 422 and 'id="purpose-error"' in empty.text
    assert await _reads(docs) == []

    purpose = "Kiểm tra hồ sơ đăng ký kết hôn"
    ok = await client.post(f"/wallet/{code}/download", data={"csrftoken": token[1], "purpose": purpose})
    assert ok.status_code == 200 and ok.content == issued.pdf
    logged = await _reads(docs)  # one entry per person the certificate concerns, with the purpose typed
    assert {AN, BINH} <= {person for person, _ in logged} and {why for _, why in logged} == {purpose}
