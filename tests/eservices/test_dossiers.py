"""Dossiers through the service layer on both databases: once-only prefill through the exchange (and the
parents' access log), idempotent submission, codes, appointment dates, the status rules, withdrawal,
messages, rating and the apology letter."""

from __future__ import annotations

import re

import pytest
from eskit import pdf_bytes
from sqlalchemy import func, select

from dgov.documents import attachments_of, documents_context
from dgov.eservices import dossiers, dossiers_citizen, forms
from dgov.eservices.dossiers_attachments import attach_upload, attach_wallet_document, wallet
from dgov.eservices.dossiers_citizen import Applicant
from dgov.eservices.models import dossiers as t_dossiers
from dgov.kernel.errors import Forbidden, ValidationFailed
from dgov.registries.demo import AN, BINH
from dgov.registries.models import access_log
from dgov.web.runtime import Runtime

PDF = pdf_bytes()
TYPED = {
    "child.given_name": "Minh",
    "child.middle_name": "Ngọc",
    "child.sex": "F",
    "child.birth_date": "2026-11-20",
    "child.birth_place": "Bệnh viện Phụ sản Hà Nội",
    "residence.household_of": "father",
    "insurance.initial_clinic": "01-012",
}
CODE = re.compile(r"^000\.00\.12\.H26-\d{6}-\d{4}$")


def typed(data: dict) -> dict:
    out = {k: dict(v) for k, v in data.items()}
    for path, value in TYPED.items():
        forms.set_path(out, path, value)
    return out


async def draft_with_notice(rt: Runtime, who: Applicant) -> dossiers.Dossier:
    d = await dossiers_citizen.open_draft(rt, who, "birth-bundle")
    await attach_upload(rt, who, d.id, "birth_notice", filename="gcs.pdf", data=PDF)
    return d


async def count(rt: Runtime) -> int:
    async with rt.db.uow(readonly=True) as uow:
        return int((await uow.session.execute(select(func.count()).select_from(t_dossiers))).scalar_one())


async def test_prefill_reads_both_parents_and_the_household_through_the_exchange(
    rt: Runtime, binh: Applicant
) -> None:
    d = await dossiers_citizen.open_draft(rt, binh, "birth-bundle")
    assert d.status == "draft" and d.code is None
    assert d.data["mother"] == {"full_name": "Trần Thị Bình", "id_number": BINH}
    assert d.data["father"] == {"full_name": "Nguyễn Văn An", "id_number": AN}
    assert d.data["applicant"]["relationship"] == "mother"
    assert d.data["residence"]["head_full_name"] == "Nguyễn Văn An"
    assert "Ba Đình" in d.data["residence"]["address"]
    assert d.data["child"] == {"surname": "Nguyễn", "ethnicity": "Kinh", "nationality": "VN"}
    assert d.sources["father.id_number"]["registry"] == "population"
    assert d.sources["father.id_number"]["mode"] == "readonly"
    assert d.sources["child.surname"]["mode"] == "default"
    assert d.sources["residence.address"]["registry"] == "residence"
    assert d.commune_code == "00004" and d.province_code == "01"
    # Each parent's access log names the one-stop centre, the exchange, the purpose and the draft.
    async with rt.db.uow(readonly=True) as uow:
        rows = (
            (await uow.session.execute(select(access_log).where(access_log.c.subject_id.in_([AN, BINH]))))
            .mappings()
            .all()
        )
    by_subject = {r["subject_id"]: r for r in rows}
    assert set(by_subject) == {AN, BINH}
    for r in rows:
        assert r["channel"] == "exchange"
        assert r["dossier_code"] == f"draft-{d.id}"
        assert "MOTCUA" in r["accessor"]
        assert "khai sinh" in r["purpose"]
    # Data minimisation: only the fields the form needs were asked for.
    an_fields = {
        f for r in rows if r["subject_id"] == AN and r["registry"] == "population" for f in r["fields"]
    }
    assert "religion" not in an_fields and "hometown" not in an_fields


async def test_opening_the_form_again_reuses_the_draft(rt: Runtime, binh: Applicant) -> None:
    first = await dossiers_citizen.open_draft(rt, binh, "birth-bundle")
    again = await dossiers_citizen.open_draft(rt, binh, "birth-bundle")
    assert again.id == first.id


async def test_submission_numbers_the_dossier_and_starts_its_process(rt: Runtime, binh: Applicant) -> None:
    d = await draft_with_notice(rt, binh)
    done = await dossiers_citizen.submit(
        rt, binh, "birth-bundle", typed(d.data), idempotency_key=d.idempotency_key, draft_id=d.id
    )
    assert done.status == "submitted"
    assert done.code and CODE.match(done.code)
    assert done.code.endswith("-0001")
    assert done.due_date == dossiers.due_date(done.submitted_at, 5)  # type: ignore[arg-type]
    async with rt.db.uow(readonly=True) as uow:
        events = await dossiers.events_of(uow, done.id)
        inst = await dossiers.workflow_module().instance_for(uow, dossier_id=done.id)
    first = next(e for e in events if e.kind == "status")
    assert (first.from_status, first.to_status) == ("draft", "submitted")
    assert inst.dossier_code == done.code
    # The birth notice is attached under the dossier code too, where the agencies look for it.
    attached = await attachments_of(documents_context(rt.settings, rt.db), done.code)
    assert [a.document.code for a in attached] == [done.attachments[0]["code"]]


async def test_the_same_key_twice_makes_one_dossier(rt: Runtime, binh: Applicant) -> None:
    d = await draft_with_notice(rt, binh)
    data = typed(d.data)
    first = await dossiers_citizen.submit(
        rt, binh, "birth-bundle", data, idempotency_key=d.idempotency_key, draft_id=d.id
    )
    second = await dossiers_citizen.submit(
        rt, binh, "birth-bundle", data, idempotency_key=d.idempotency_key, draft_id=d.id
    )
    assert second.id == first.id and second.code == first.code
    assert await count(rt) == 1


async def test_an_api_style_submission_without_draft_is_idempotent_by_key(
    rt: Runtime, cuong: Applicant
) -> None:
    data = {"request": {"form_type": "1", "purpose": "Xin việc", "copies": 1, "delivery": "post"}}
    first = await dossiers_citizen.submit(rt, cuong, "judicial-record", data, idempotency_key="client-key-1")
    again = await dossiers_citizen.submit(rt, cuong, "judicial-record", data, idempotency_key="client-key-1")
    assert again.id == first.id and first.status == "submitted"
    assert first.code and first.code.startswith("000.22.00.H26-")
    assert first.data["applicant"]["id_number"] == cuong.id_number  # prefilled, not typed


async def test_read_only_values_cannot_be_tampered_with(rt: Runtime, binh: Applicant) -> None:
    d = await draft_with_notice(rt, binh)
    data = typed(d.data)
    data["father"] = {"full_name": "Lê Văn Cường", "id_number": "079085001234"}
    data["applicant"]["id_number"] = "079085001234"
    done = await dossiers_citizen.submit(
        rt, binh, "birth-bundle", data, idempotency_key=d.idempotency_key, draft_id=d.id
    )
    assert done.data["father"] == {"full_name": "Nguyễn Văn An", "id_number": AN}
    assert done.data["applicant"]["id_number"] == BINH


async def test_invalid_data_changes_nothing(rt: Runtime, binh: Applicant) -> None:
    d = await dossiers_citizen.open_draft(rt, binh, "birth-bundle")
    data = typed(d.data)
    data["child"]["sex"] = "unknown"
    with pytest.raises(ValidationFailed) as exc:
        await dossiers_citizen.submit(
            rt, binh, "birth-bundle", data, idempotency_key=d.idempotency_key, draft_id=d.id
        )
    paths = {".".join(map(str, e.loc)) for e in exc.value.errors}
    assert paths == {"child.sex", "attachments.birth_notice"}
    async with rt.db.uow(readonly=True) as uow:
        again = await dossiers.get(uow, d.id)
    assert again.status == "draft" and again.code is None and again.data == d.data


async def test_uploads_go_through_the_wallet_and_are_checked_by_content(
    rt: Runtime, binh: Applicant, cuong: Applicant
) -> None:
    d = await dossiers_citizen.open_draft(rt, binh, "birth-bundle")
    with pytest.raises(ValidationFailed) as exc:
        await attach_upload(rt, binh, d.id, "birth_notice", filename="gcs.pdf", data=b"MZ\x90\x00 a program")
    assert [e.loc for e in exc.value.errors] == [("attachments", "birth_notice")]
    with pytest.raises(ValidationFailed):
        await attach_upload(rt, binh, d.id, "passport", filename="p.pdf", data=PDF)
    with pytest.raises(Forbidden):
        await attach_upload(rt, cuong, d.id, "birth_notice", filename="gcs.pdf", data=PDF)
    item = await attach_upload(rt, binh, d.id, "birth_notice", filename="gcs.pdf", data=PDF)
    assert item["source"] == "upload" and item["media_type"] == "application/pdf" and item["code"]
    # The file is now in Bình's wallet, and can be picked for another dossier without a new upload.
    assert item["code"] in {w.document.code for w in await wallet(rt, binh)}
    other = await dossiers_citizen.open_draft(rt, binh, "birth-registration")
    picked = await attach_wallet_document(rt, binh, other.id, "birth_notice", code=item["code"])
    assert picked["source"] == "wallet" and picked["sha256"] == item["sha256"]
    with pytest.raises(ValidationFailed):
        await attach_wallet_document(rt, binh, other.id, "birth_notice", code="TL-0000-NOPE")


async def test_draft_saving_keeps_typed_values_but_not_tampered_ones(rt: Runtime, binh: Applicant) -> None:
    d = await dossiers_citizen.open_draft(rt, binh, "birth-bundle")
    data = typed(d.data)
    data["mother"]["id_number"] = "000000000000"
    saved = await dossiers_citizen.save_draft(rt.db, binh, d.id, data)
    assert saved.data["child"]["given_name"] == "Minh"
    assert saved.data["mother"]["id_number"] == BINH
    assert saved.status == "draft"


async def test_without_a_spouse_in_the_registry_the_parents_are_typed(rt: Runtime, cuong: Applicant) -> None:
    d = await dossiers_citizen.open_draft(rt, cuong, "birth-bundle")
    assert d.data["father"] == {"full_name": "Lê Văn Cường", "id_number": cuong.id_number}
    assert "mother.id_number" not in d.sources  # nobody to read: the field stays editable and empty
    assert d.sources["father.id_number"]["mode"] == "readonly"
    async with rt.db.uow(readonly=True) as uow:
        subjects = (await uow.session.execute(select(access_log.c.subject_id).distinct())).scalars().all()
    assert set(subjects) == {cuong.id_number}
