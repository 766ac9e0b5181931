"""A parent files for their child: the children are found in the parent's household and checked against
the population registry through the exchange, the picked child's fields are prefilled read-only with
their source, a forged ID number is refused, and the child's access log shows the reads (both DBs)."""

from __future__ import annotations

import html
import re
from datetime import date
from typing import Any

import pytest
from eskit import citizen_login
from httpx import AsyncClient, Response
from sqlalchemy import select

from dgov.eservices import dossiers, dossiers_citizen
from dgov.eservices.dossiers_citizen import Applicant
from dgov.identity import SYSTEM
from dgov.kernel.errors import ValidationFailed
from dgov.registries import RegistriesContext, create_record, update_record
from dgov.registries.demo import AN, BA_DINH, CUONG, KHANG, family_records
from dgov.registries.models import access_log
from dgov.web.runtime import Runtime

PROC = "child-health-insurance"
FORM = f"/dich-vu-cong/{PROC}/nop"
# A daughter of An and Bình born in 2024 (the demo son Khang, born 2016, is too old for this card).
LAN = "001324098765"
CHILD_PATHS = {"child.full_name", "child.id_number", "child.birth_date", "child.sex"}


@pytest.fixture
async def crt(rt: Runtime) -> Runtime:
    ctx = RegistriesContext(db=rt.db)
    records = family_records()
    khang = next(p for p in records["population"] if p["id_number"] == KHANG)
    lan = {
        **khang,
        "id_number": LAN,
        "given_name": "Lan",
        "middle_name": "Ngọc",
        "full_name": "Nguyễn Ngọc Lan",
        "birth_date": "2024-03-08",
        "sex": "F",
        "permanent_address": BA_DINH,
    }
    await create_record(ctx, SYSTEM, "population", lan)
    home = next(h for h in records["residence"] if h["head_id_number"] == AN)
    members = [
        *home["members"],
        {
            "id_number": LAN,
            "full_name": lan["full_name"],
            "relationship_to_head": "child",
            "since": "2024-03-20",
        },
    ]
    await update_record(ctx, SYSTEM, "residence", home["household_id"], {"members": members}, merge=True)
    return rt


async def _log(rt: Runtime, subject: str) -> list[dict[str, Any]]:
    async with rt.db.uow(readonly=True) as uow:
        return [
            dict(r)
            for r in (await uow.session.execute(select(access_log).where(access_log.c.subject_id == subject)))
            .mappings()
            .all()
        ]


async def test_the_parent_picks_a_child_and_the_childs_fields_come_from_the_registry(
    crt: Runtime, an: Applicant
) -> None:
    d = await dossiers_citizen.open_draft(crt, an, PROC)
    assert not CHILD_PATHS & set(d.sources)  # nothing about a child until one is picked
    kids = await dossiers_citizen.children_for(crt, an, d)
    assert {(k.id_number, k.full_name) for k in kids} == {
        (KHANG, "Nguyễn Minh Khang"),
        (LAN, "Nguyễn Ngọc Lan"),
    }
    d = await dossiers_citizen.choose_child(crt, an, d.id, LAN)
    assert d.data["child"] == {
        "full_name": "Nguyễn Ngọc Lan",
        "id_number": LAN,
        "birth_date": "2024-03-08",
        "sex": "F",
    }
    for path in CHILD_PATHS:
        src = d.sources[path]
        assert src["registry"] == "population" and src["key"] == LAN
        assert src["mode"] == "readonly" and src["agency"] == "BCA" and src["changed_at"]
    assert d.data["applicant"]["id_number"] == AN  # the parent's own prefill is kept
    # The child's access log: the one-stop centre read the child through the exchange for this draft.
    rows = await _log(crt, LAN)
    assert rows
    for r in rows:
        assert r["channel"] == "exchange"
        assert "MOTCUA" in r["accessor"]
        assert r["dossier_code"] == f"draft-{d.id}"
        assert "bảo hiểm y tế" in r["purpose"]
    fields = {f for r in rows for f in r["fields"]}
    assert {"full_name", "birth_date", "sex", "id_number", "mother_id_number"} <= fields
    assert "religion" not in fields and "hometown" not in fields
    # Picking another child replaces every child field.
    d = await dossiers_citizen.choose_child(crt, an, d.id, KHANG)
    assert d.data["child"]["id_number"] == KHANG and d.sources["child.birth_date"]["key"] == KHANG


async def test_a_forged_child_id_number_is_refused_and_changes_nothing(crt: Runtime, an: Applicant) -> None:
    d = await dossiers_citizen.open_draft(crt, an, PROC)
    d = await dossiers_citizen.choose_child(crt, an, d.id, LAN)
    for forged in (CUONG, AN, "001192034567", "", "not-a-number"):
        with pytest.raises(ValidationFailed) as err:
            await dossiers_citizen.choose_child(crt, an, d.id, forged)
        assert [e.loc for e in err.value.errors] == [("child", "id_number")]
    async with crt.db.uow(readonly=True) as uow:
        after = await dossiers.get(uow, d.id)
    assert after.data == d.data and after.sources == d.sources
    assert await _log(crt, CUONG) == []  # a stranger's record is never read for the parent
    # Nor can the read-only child values be replaced on submission.
    data = {
        **after.data,
        "child": {**after.data["child"], "id_number": CUONG, "full_name": "Lê Văn Cường"},
        "insurance": {"initial_clinic": "01-012", "card_delivery": "post"},
    }
    done = await dossiers_citizen.submit(crt, an, PROC, data, idempotency_key="k-child-1", draft_id=d.id)
    assert done.status == "submitted"
    assert done.data["child"]["id_number"] == LAN and done.data["child"]["full_name"] == "Nguyễn Ngọc Lan"


def _text(r: Response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", r.text)).split())


def _hidden(r: Response, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', r.text)
    assert m, name
    return m.group(1)


async def test_the_form_offers_the_children_and_refuses_a_forged_one(
    crt: Runtime, client: AsyncClient
) -> None:
    await citizen_login(crt, client, AN, "Nguyễn Văn An", date(1990, 3, 15), "M")
    r = await client.get(FORM)
    assert r.status_code == 200
    assert f'<option value="{LAN}"' in r.text and f'<option value="{KHANG}"' in r.text
    assert "Nguyễn Ngọc Lan" in _text(r)
    base = {"csrftoken": _hidden(r, "csrftoken"), "draft_id": _hidden(r, "draft_id"), "action": "child"}
    r = await client.post(FORM, data={**base, "child_pick": CUONG})
    assert r.status_code == 422
    assert 'id="f-child-pick-error"' in r.text
    assert "Lê Văn Cường" not in _text(r)
    r = await client.post(FORM, data={**base, "child_pick": LAN})
    assert r.status_code == 200
    assert re.search(rf'name="child.id_number" type="text" value="{LAN}" readonly', r.text)
    assert re.search(r'name="child.full_name" type="text" value="Nguyễn Ngọc Lan" readonly', r.text)
    assert f'<option value="{LAN}" selected' in r.text
