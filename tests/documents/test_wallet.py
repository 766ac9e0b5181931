"""The wallet and access control: a citizen reads their own documents (and a child's, through
act_for), nobody else's; officials read by role, unit or dossier, with a purpose, and every such read is
logged for each person the document concerns; a wallet document is attached to a dossier without
uploading it again."""

from __future__ import annotations

from datetime import date

import pytest
from docskit import AN, BINH, CUONG, citizen, holder, identity_ctx, new_citizen, official
from sqlalchemy import select

from dgov.documents import (
    DocumentsContext,
    attach_from_wallet,
    attachments_of,
    read,
    store_issued,
    template,
    wallet_items,
)
from dgov.documents.models import reads
from dgov.documents.service import reads_of
from dgov.identity import SYSTEM, act_for
from dgov.identity import service as id_service
from dgov.kernel.errors import Forbidden, ValidationFailed
from dgov.web.runtime import Runtime

KHANG = "001216012345"


async def family(runtime: Runtime) -> tuple[object, object, object]:
    an = await new_citizen(runtime, AN, "Nguyễn Văn An", date(1990, 3, 15))
    binh = await new_citizen(runtime, BINH, "Trần Thị Bình", date(1992, 7, 20), "F")
    cuong = await new_citizen(runtime, CUONG, "Lê Văn Cường", date(1985, 11, 2))
    return an, binh, cuong


async def test_only_holders_see_and_read_their_documents(docs: DocumentsContext, runtime: Runtime) -> None:
    an, binh, cuong = await family(runtime)
    t = template("birth-certificate")
    issued = await store_issued(docs, SYSTEM, template_name=t.name, data=t.example, holders=[AN, BINH])
    code = issued.document.code

    for person in (an, binh):
        items = await wallet_items(docs, citizen(person.id), holder(person))
        assert [i.document.code for i in items] == [code] and items[0].source == "issued"
        info, data = await read(docs, citizen(person.id), code, holder=holder(person))
        assert data == issued.pdf and info.code == code
    assert await wallet_items(docs, citizen(cuong.id), holder(cuong)) == []

    with pytest.raises(Forbidden):  # another citizen, even knowing the code
        await read(docs, citizen(cuong.id), code, holder=holder(cuong), purpose="curious")
    with pytest.raises(Forbidden):  # claiming to be An does not work: the holder must be the login
        await wallet_items(docs, citizen(cuong.id), holder(an))
    with pytest.raises(Forbidden):
        await read(docs, citizen(cuong.id), code, holder=holder(an))
    # Owners reading their own documents leave no access-log entry.
    assert await reads_of(docs, citizen(an.id), holder(an)) == []


async def test_officials_read_by_role_and_unit_with_a_purpose_and_it_is_logged(
    docs: DocumentsContext, runtime: Runtime
) -> None:
    an, binh, _cuong = await family(runtime)
    t = template("birth-certificate")
    issued = await store_issued(docs, SYSTEM, template_name=t.name, data=t.example, holders=[AN, BINH])
    code = issued.document.code

    civil = official("civil_status_officer", "BTP", "00004")
    with pytest.raises(ValidationFailed):  # no purpose, no read
        await read(docs, civil, code)
    await read(docs, civil, code, purpose="Kiểm tra hồ sơ đăng ký kết hôn", accessor_name="Phạm Thu Hà · BTP")

    for outsider in (
        official("civil_status_officer", "BTP", "00007"),  # another ward
        official("residence_officer", "BCA", "00004"),  # another kind of work
        official("insurance_officer", "BHXH", "01"),
    ):
        with pytest.raises(Forbidden):
            await read(docs, outsider, code, purpose="tò mò")

    for person in (an, binh):
        log = await reads_of(docs, citizen(person.id), holder(person))
        assert [(e["code"], e["accessor_name"], e["purpose"]) for e in log] == [
            (code, "Phạm Thu Hà · BTP", "Kiểm tra hồ sơ đăng ký kết hôn")
        ]
    # The child the certificate is about is logged too (shown in the child's wallet by a parent).

    async with docs.db.uow(readonly=True) as uow:
        subjects = {r.subject_id for r in await uow.session.execute(select(reads.c.subject_id))}
    assert subjects == {AN, BINH, KHANG}


async def test_attach_from_wallet_to_a_dossier(docs: DocumentsContext, runtime: Runtime) -> None:
    an, _binh, cuong = await family(runtime)
    t = template("birth-certificate")
    issued = await store_issued(docs, SYSTEM, template_name=t.name, data=t.example, holders=[AN, BINH])
    code = issued.document.code

    att = await attach_from_wallet(docs, citizen(an.id), holder=holder(an), code=code, dossier_code="HS-0001")
    again = await attach_from_wallet(
        docs, citizen(an.id), holder=holder(an), code=code, dossier_code="HS-0001"
    )
    assert (att.version, att.document.sha256) == (1, issued.document.sha256)
    assert again.attached_at == att.attached_at  # the same attachment, not a second one
    assert [a.document.code for a in await attachments_of(docs, "HS-0001")] == [code]
    with pytest.raises(Forbidden):
        await attach_from_wallet(
            docs, citizen(cuong.id), holder=holder(cuong), code=code, dossier_code="HS-0002"
        )
    with pytest.raises(ValidationFailed):
        await attach_from_wallet(docs, citizen(an.id), holder=holder(an), code=code, dossier_code=" ")

    # The one-stop officer handling the dossier reads it through the dossier (and only through it).
    one_stop = official("one_stop_officer", "UBND-00004", "00004")
    with pytest.raises(Forbidden):
        await read(docs, one_stop, code, purpose="Tiếp nhận hồ sơ")
    info, _data = await read(
        docs, one_stop, code, purpose="Tiếp nhận hồ sơ", dossier_code="HS-0001", dossier_agency="UBND-00004"
    )
    assert info.code == code
    with pytest.raises(Forbidden):  # naming a dossier the document is not attached to does not help
        await read(docs, one_stop, code, purpose="x", dossier_code="HS-9999", dossier_agency="UBND-00004")


async def test_a_parent_acts_for_a_child_under_14(docs: DocumentsContext, runtime: Runtime) -> None:
    an, binh, _cuong = await family(runtime)
    khang = await id_service.register_child(
        identity_ctx(runtime),
        citizen(an.id),
        id_number=KHANG,
        full_name="Nguyễn Minh Khang",
        birth_date=date(2016, 9, 1),
        sex="M",
    )
    t = template("health-insurance-card")
    issued = await store_issued(docs, SYSTEM, template_name=t.name, data=t.example, holders=[KHANG])

    for_khang = act_for(citizen(an.id), khang)
    items = await wallet_items(docs, for_khang, holder(khang))
    assert [i.document.code for i in items] == [issued.document.code]
    await read(docs, for_khang, issued.document.code, holder=holder(khang))
    with pytest.raises(Forbidden):  # Bình is not the linked guardian in this data
        act_for(citizen(binh.id), khang)
    with pytest.raises(
        Forbidden
    ):  # acting for the child does not open the child's wallet to An's login alone
        await wallet_items(docs, citizen(an.id), holder(khang))
