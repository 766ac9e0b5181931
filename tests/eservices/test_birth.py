"""The birth bundle end to end at the service level: three branches, one combined status, the child's
new ID number, the household, the insurance card, the signed certificate in both parents' wallets."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import select, text

import dgov.notify.events  # noqa: F401 - subscribes the notify.send consumer
from dgov.eservices import dossiers, workflow, worklist
from dgov.eservices.workflow_demo import (
    AN,
    _family_form,
    birth_journey,
    citizen,
    direct_submit,
    load,
    official,
)
from dgov.eservices.workflow_models import WorkItem
from dgov.identity import SYSTEM, Principal, validate_id_number
from dgov.kernel.uow import Database
from dgov.notify.inbox import inbox, mark_read
from dgov.pki.demo import load as load_pki
from dgov.registries import RegistriesContext, personal_data_usage, read_record
from dgov.registries.demo import AN_HOUSEHOLD, BINH
from dgov.web.runtime import Runtime


async def test_birth_bundle_end_to_end(rt: Runtime) -> None:
    runtime = rt  # the families, the exchange's members and rights, the BPMN processes
    await load_pki(runtime)
    out = await birth_journey(runtime)
    assert out["status"] == "result_issued"
    child = out["child_id_number"]
    validate_id_number(child)
    ctx = RegistriesContext(runtime.db)
    person = (await read_record(ctx, SYSTEM, "population", child, purpose="test")).data
    assert person["father_id_number"] == AN and person["mother_id_number"] == BINH
    assert person["household_id"] == AN_HOUSEHOLD
    household = (await read_record(ctx, SYSTEM, "residence", AN_HOUSEHOLD, purpose="test")).data
    assert child in [m["id_number"] for m in household["members"]]
    card = await read_record(ctx, SYSTEM, "health_insurance", out["insurance_card_number"], purpose="test")
    assert card.data["holder_id_number"] == child and card.dossier_code == out["dossier_code"]
    # The card carries its unit (the dossier's), so only that unit's insurance officials read it.
    assert card.data["issuing_unit"] == {"province_code": "01", "commune_code": "00004"}
    assert (card.province_code, card.commune_code) == ("01", "00004")
    entry = await read_record(ctx, SYSTEM, "civil_status", out["birth_registration_number"], purpose="test")
    assert entry.data["id_number"] == child and entry.legal_basis and "63/2024" in entry.legal_basis
    pdf = Path(out["certificate_path"]).read_bytes()
    assert pdf.startswith(b"%PDF") and b"/ByteRange" in pdf and out["certificate_signed"]
    async with runtime.db.uow(readonly=True) as uow:
        d = await dossiers.get_by_code(uow, out["dossier_code"])
        items = list(await uow.session.scalars(select(WorkItem).where(WorkItem.dossier_id == d.id)))
        topics = list((await uow.session.execute(text("SELECT topic FROM outbox_messages"))).scalars())
        # the signed certificate, in both parents' wallets
        holders = set(
            (
                await uow.session.execute(
                    text(
                        "SELECT w.holder_id FROM documents_wallet w "
                        "JOIN documents_documents d ON d.id = w.document_id WHERE d.code = :code"
                    ),
                    {"code": Path(out["certificate_path"]).stem},
                )
            ).scalars()
        )
        born = list(
            (
                await uow.session.execute(
                    text("SELECT subject FROM exchange_events WHERE type = 'person.born'")
                )
            ).scalars()
        )
    assert holders == {AN, BINH}
    assert worklist.combined_status(items) == {
        "civil_status": "approve",
        "residence": "approve",
        "health_insurance": "approve",
    }
    assert {w.agency for w in items} == {"BTP", "BCA", "BHXH"}
    assert born.count(child) == 1  # published once, though both the service and the registry change say so
    assert topics.count("notify.send") >= 2  # both parents
    # the prefill read the parents through the exchange: each sees the one-stop centre in their access log
    for parent in (AN, BINH):
        log = await personal_data_usage(ctx, SYSTEM, parent)
        assert any(e["channel"] == "exchange" and e["dossier_code"] for e in log), parent
    # the outbox delivers the notifications into both parents' in-app inboxes
    await runtime.dispatcher.run_once()
    for parent in (AN, BINH):
        msgs = await inbox(runtime.db, Principal(kind="citizen", account_id=uuid.uuid4(), level=1), parent)
        assert any(child in m.body and out["dossier_code"] in m.body for m in msgs), parent
    assert await mark_read(runtime.db, Principal(kind="citizen", account_id=uuid.uuid4(), level=1), BINH) >= 1


async def test_one_branch_rejecting_rejects_the_bundle(runtime: Runtime, families: Database) -> None:

    await load(runtime)
    d = await direct_submit(
        runtime, citizen(AN), AN, "Nguyễn Văn An", "birth-bundle", await _family_form(runtime, AN, 1)
    )
    actors = {
        "BTP": official("hotich.badinh"),
        "BCA": official("cutru.badinh"),
        "BHXH": official("bhyt.hanoi"),
    }
    async with runtime.db.uow(readonly=True) as uow:
        items = list(await uow.session.scalars(select(WorkItem).where(WorkItem.dossier_id == d.id)))
    assert len(items) == 3
    for w in items:
        if w.agency == "BCA":
            await worklist.act(runtime.db, runtime, actors[w.agency], w.id, "reject", reason="Sai địa chỉ")
        else:
            await worklist.act(runtime.db, runtime, actors[w.agency], w.id, "approve")
    async with runtime.db.uow(readonly=True) as uow:
        assert (await dossiers.get(uow, d.id)).status == "rejected"
        assert (await workflow.instance_for(uow, dossier_id=d.id)).status == "completed"
    assert uuid.UUID(str(d.id))
