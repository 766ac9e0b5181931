"""The registry engine and its use cases: versions, as-of reads, history, search, access log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from dgov.identity import SYSTEM, Principal, RoleGrant
from dgov.kernel import clock
from dgov.kernel.clock import FrozenClock
from dgov.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from dgov.kernel.models import AuditRecord
from dgov.kernel.uow import Database
from dgov.registries import Provenance, RegistriesContext
from dgov.registries import service as svc
from dgov.registries.engine import diff
from dgov.registries.models import access_log
from dgov.registries.normalize import fold

T0 = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
OFFICIAL = Principal(
    kind="official", account_id=None, level=2, roles=(RoleGrant("BCA", "residence_officer", "00004"),)
)
# A ministry's official with a nationwide grant (rules.is_national): searches see every unit.
NATIONAL = Principal(kind="official", level=2, roles=(RoleGrant("BCA", "registry_officer", "*"),))
WRITER = Principal(kind="operator", level=2)
CITIZEN = Principal(kind="citizen", level=2)


def person(id_number: str = "001090012345", name: str = "Nguyễn Văn An", **extra: Any) -> dict[str, Any]:
    surname, *middle, given = name.split()
    return {
        "id_number": id_number,
        "surname": surname,
        "middle_name": " ".join(middle),
        "given_name": given,
        "full_name": name,
        "birth_date": "1990-03-15",
        "sex": "M",
        "nationality": "VN",
        "status": "alive",
        "permanent_address": {"street": "1 Phố Đội Cấn", "commune_code": "00004", "province_code": "01"},
        **extra,
    }


@pytest.fixture
def reg_clock() -> Any:
    frozen = FrozenClock(T0)
    previous = clock.set_clock(frozen)
    yield frozen
    clock.set_clock(previous)


@pytest.fixture
def ctx(db: Database, reg_clock: FrozenClock) -> RegistriesContext:
    return RegistriesContext(db=db)


async def access_rows(db: Database, subject: str) -> list[Any]:
    async with db.uow(readonly=True) as uow:
        return list(
            (await uow.session.execute(select(access_log).where(access_log.c.subject_id == subject))).all()
        )


def test_fold_removes_diacritics_case_and_extra_spaces() -> None:
    assert fold("  Nguyễn   Văn AN ") == "nguyen van an"
    assert fold("Đặng Thị Ánh") == "dang thi anh"


def test_diff_names_nested_fields() -> None:
    old = {"a": 1, "addr": {"commune_code": "00004", "street": "x"}}
    new = {"a": 1, "addr": {"commune_code": "00008", "street": "x"}, "b": 2}
    assert diff(old, new) == {"addr.commune_code": ["00004", "00008"], "b": [None, 2]}


async def test_a_record_is_never_overwritten_and_reads_as_of_any_instant(
    ctx: RegistriesContext, reg_clock: FrozenClock
) -> None:
    await svc.create(ctx, WRITER, "population", person(), prov=Provenance(actor="test", reason="birth"))
    reg_clock.advance(timedelta(days=30))
    moved = person(permanent_address={"commune_code": "00008", "province_code": "01"})
    v2 = await svc.update(
        ctx,
        WRITER,
        "population",
        "001090012345",
        moved,
        prov=Provenance(actor="test", reason="moved", dossier_code="000.00.12.H62-260204-0001"),
    )
    assert v2.version == 2
    before = await svc.get(
        ctx, NATIONAL, "population", "001090012345", purpose="check", as_of=T0 + timedelta(days=1)
    )
    assert before.version == 1 and before.data["permanent_address"]["commune_code"] == "00004"
    now = await svc.get(ctx, NATIONAL, "population", "001090012345", purpose="check")
    assert now.version == 2 and now.data["permanent_address"]["commune_code"] == "00008"
    with pytest.raises(NotFound):
        await svc.get(
            ctx, NATIONAL, "population", "001090012345", purpose="check", as_of=T0 - timedelta(days=1)
        )
    versions = await svc.history(ctx, NATIONAL, "population", "001090012345", purpose="check")
    assert [v.version for v in versions] == [2, 1]
    assert versions[0].dossier_code == "000.00.12.H62-260204-0001"
    assert versions[1].valid_to == T0 + timedelta(days=30)
    # Ba Đình's official no longer reads the person who moved out, not even as they were there.
    with pytest.raises(Forbidden):
        await svc.get(ctx, OFFICIAL, "population", "001090012345", purpose="check", as_of=T0)


async def test_an_unchanged_update_writes_no_version(ctx: RegistriesContext, db: Database) -> None:
    await svc.create(ctx, WRITER, "population", person())
    same = await svc.update(ctx, WRITER, "population", "001090012345", person())
    assert same.version == 1
    async with db.uow(readonly=True) as uow:
        n = await uow.session.scalar(
            select(func.count())
            .select_from(AuditRecord)
            .where(AuditRecord.action == "registries.record_updated")
        )
    assert n == 0


async def test_bad_data_is_refused_field_by_field_and_nothing_is_written(ctx: RegistriesContext) -> None:
    bad = person(id_number="999090012345", birth_date="1990-02-30", sex="X")
    with pytest.raises(ValidationFailed) as exc:
        await svc.create(ctx, WRITER, "population", bad)
    fields = {e.loc[0] for e in exc.value.errors}
    assert {"birth_date", "sex", "id_number"} <= fields
    assert not await svc.exists(ctx, OFFICIAL, "population", "999090012345")


async def test_duplicate_keys_and_key_changes_are_refused(ctx: RegistriesContext) -> None:
    await svc.create(ctx, WRITER, "population", person())
    with pytest.raises(Conflict):
        await svc.create(ctx, WRITER, "population", person())
    with pytest.raises(ValidationFailed):
        await svc.update(ctx, WRITER, "population", "001090012345", person(id_number="001090054321"))


async def test_deletion_is_a_version_and_history_keeps_the_record(
    ctx: RegistriesContext, reg_clock: FrozenClock
) -> None:
    await svc.create(ctx, WRITER, "population", person())
    reg_clock.advance(timedelta(hours=1))
    await svc.delete(
        ctx, WRITER, "population", "001090012345", prov=Provenance(actor="t", reason="duplicate")
    )
    with pytest.raises(NotFound):
        await svc.get(ctx, OFFICIAL, "population", "001090012345", purpose="check")
    old = await svc.get(ctx, OFFICIAL, "population", "001090012345", purpose="check", as_of=T0)
    assert old.version == 1 and not old.deleted


async def test_search_by_folded_name_year_and_place(ctx: RegistriesContext) -> None:
    await svc.create(ctx, WRITER, "population", person())
    await svc.create(ctx, WRITER, "population", person("001090054321", "Nguyễn Văn Anh"))
    await svc.create(
        ctx,
        WRITER,
        "population",
        person(
            "079090012345",
            "Nguyễn Văn An",
            permanent_address={"commune_code": "26734", "province_code": "79"},
        ),
    )
    exact = await svc.search(ctx, NATIONAL, "population", purpose="verify", name="nguyen van an")
    assert {r.key for r in exact} == {"001090012345", "079090012345"}
    in_hanoi = await svc.search(
        ctx, NATIONAL, "population", purpose="verify", name="NGUYEN VAN AN", province="01"
    )
    assert [r.key for r in in_hanoi] == ["001090012345"]
    prefix = await svc.search(
        ctx, NATIONAL, "population", purpose="verify", name="nguyễn văn an*", birth_year=1990
    )
    assert len(prefix) == 3
    assert (
        await svc.search(ctx, NATIONAL, "population", purpose="verify", name="nguyen van an", birth_year=1991)
        == []
    )
    with pytest.raises(ValidationFailed):
        await svc.search(ctx, NATIONAL, "population", purpose="verify", birth_year=1990)
    # An official of Ba Đình (00004) finds only the Ba Đình people, whatever the criteria.
    local = await svc.search(ctx, OFFICIAL, "population", purpose="verify", name="nguyễn văn an*")
    assert {r.key for r in local} == {"001090012345", "001090054321"}
    assert (
        await svc.search(ctx, OFFICIAL, "population", purpose="verify", name="nguyen van an", province="79")
        == []
    )


async def test_reads_by_officials_are_in_the_persons_access_log_and_their_own_are_not(
    ctx: RegistriesContext, db: Database
) -> None:
    await svc.create(ctx, WRITER, "population", person())
    await svc.get(
        ctx,
        OFFICIAL,
        "population",
        "001090012345",
        purpose="birth registration",
        dossier_code="000.00.12.H62-260105-0001",
        fields=["full_name", "birth_date"],
    )
    await svc.search(ctx, OFFICIAL, "population", purpose="verify identity", name="nguyen van an")
    rows = await access_rows(db, "001090012345")
    assert len(rows) == 2
    first = next(r for r in rows if r.channel == "page" and r.dossier_code)
    assert first.fields == ["birth_date", "full_name"] and first.purpose == "birth registration"
    me = Principal(kind="citizen", level=1)
    log = await svc.access_log(ctx, me, "001090012345")
    assert {e["purpose"] for e in log} == {"birth registration", "verify identity"}
    await svc.get(ctx, SYSTEM, "population", "001090012345", purpose="system")
    assert len(await access_rows(db, "001090012345")) == 2


async def test_reading_needs_a_role_and_a_purpose(ctx: RegistriesContext) -> None:
    await svc.create(ctx, WRITER, "population", person())
    with pytest.raises(Forbidden):
        await svc.get(ctx, CITIZEN, "population", "001090012345", purpose="curious")
    with pytest.raises(ValidationFailed):
        await svc.get(ctx, OFFICIAL, "population", "001090012345", purpose=" ")
    reader_client = Principal(
        kind="client", client_id="agency", scopes=frozenset({"registry.population.read"})
    )
    assert (
        await svc.get(ctx, reader_client, "population", "001090012345", purpose="x")
    ).key == "001090012345"
    with pytest.raises(Forbidden):
        await svc.create(ctx, reader_client, "population", person("001090054321"))
    with pytest.raises(Forbidden):
        await svc.create(ctx, OFFICIAL, "population", person("001090054321"))


async def test_writes_are_audited_with_their_legal_basis(ctx: RegistriesContext, db: Database) -> None:
    await svc.create(
        ctx,
        WRITER,
        "population",
        person(),
        prov=Provenance(actor="operator", legal_basis="Law on Identification 26/2023/QH15"),
    )
    async with db.uow(readonly=True) as uow:
        row = await uow.session.scalar(
            select(AuditRecord).where(AuditRecord.action == "registries.record_created")
        )
    assert row is not None and row.object_id == "001090012345"
    assert row.legal_basis == "Law on Identification 26/2023/QH15"


async def test_an_unknown_registry_or_version_is_not_found(ctx: RegistriesContext) -> None:
    with pytest.raises(NotFound):
        await svc.get(ctx, OFFICIAL, "nope", "1", purpose="x")
