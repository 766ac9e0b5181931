"""Messages between the official and the applicant on a dossier, from the back office."""

from __future__ import annotations

from httpx import AsyncClient
from test_backoffice import _bundle, _official, csrf, text

from dgov.eservices.dossiers_citizen import follow
from dgov.eservices.workflow_demo import AN, citizen
from dgov.kernel.uow import Database
from dgov.web.runtime import Runtime


async def test_an_official_writes_to_the_applicant_who_reads_it(
    client: AsyncClient, runtime: Runtime, families: Database
) -> None:
    d = await _bundle(runtime)
    await _official(runtime, client, "hotich.tinnhan", "BTP", "civil_status_officer", "00004")
    r = await client.get(f"/can-bo/ho-so/{d.id}")
    token = csrf(r)
    r = await client.post(f"/can-bo/ho-so/{d.id}/tin-nhan", data={"body": "  ", "csrftoken": token})
    assert r.status_code == 422 and 'href="#body-message"' in r.text
    body = "Đề nghị bổ sung bản sao giấy chứng sinh có xác nhận."
    r = await client.post(f"/can-bo/ho-so/{d.id}/tin-nhan", data={"body": body, "csrftoken": token})
    assert r.status_code == 303
    assert body in text(await client.get(f"/can-bo/ho-so/{d.id}"))
    _, _, messages = await follow(runtime.db, citizen(AN), d.id)
    [m] = messages
    assert (m.sender_kind, m.sender_name, m.body) == ("official", "BTP", body)


async def test_an_official_of_another_commune_cannot_write_on_the_dossier(
    client: AsyncClient, runtime: Runtime, families: Database
) -> None:
    d = await _bundle(runtime)
    await _official(runtime, client, "hotich.khac", "BTP", "civil_status_officer", "00070")
    token = csrf(await client.get("/account"))
    r = await client.post(f"/can-bo/ho-so/{d.id}/tin-nhan", data={"body": "x", "csrftoken": token})
    assert r.status_code in (403, 404)
    _, _, messages = await follow(runtime.db, citizen(AN), d.id)
    assert messages == []
