"""Import (all or nothing, with a row-level report) and streaming export, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from dgov.identity import SYSTEM, Principal, RoleGrant
from dgov.kernel.errors import Conflict, Forbidden, ValidationFailed
from dgov.kernel.i18n import current_locale, gettext
from dgov.kernel.models import AuditRecord
from dgov.kernel.uow import Database
from dgov.registries import Provenance, RegistriesContext, engine, exports, imports
from dgov.registries import service as svc
from dgov.registries.models import access_log, records

WRITER = Principal(kind="operator", level=2)
# Exporting a whole registry needs a national role (rules.is_national): a ministry grant for "*".
READER = Principal(kind="official", level=2, roles=(RoleGrant("BCA", "registry_officer", "*"),))
LOCAL_READER = Principal(kind="official", level=2, roles=(RoleGrant("BCA", "residence_officer", "00004"),))
CITIZEN = Principal(kind="citizen", level=2)
PROV = Provenance(actor="operator", reason="initial load", legal_basis="Law on Residence 68/2020/QH14")

HEADER = [
    "id_number",
    "surname",
    "middle_name",
    "given_name",
    "full_name",
    "birth_date",
    "sex",
    "nationality",
    "status",
    "permanent_address.street",
    "permanent_address.commune_code",
    "permanent_address.province_code",
]
GIVEN = ["An", "Bình", "Cường", "Dũng", "Giang", "Hải", "Khánh", "Lan", "Minh", "Ngọc"]


def id_number(i: int) -> str:
    return f"0010900{i:05d}"  # Hà Nội, a man born in 1990


def person_cells(i: int) -> list[str]:
    given = GIVEN[i % len(GIVEN)]
    street = "" if i % 3 else f"{i} Phố Đội Cấn"  # an empty cell: the field is absent
    return [
        id_number(i),
        "Nguyễn",
        "Văn",
        given,
        f"Nguyễn Văn {given}",
        "1990-03-15",
        "M",
        "VN",
        "alive",
        street,
        "00004",
        "01",
    ]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def people_csv(path: Path, n: int, *, change: dict[int, dict[int, str]] | None = None) -> Path:
    rows = [person_cells(i) for i in range(n)]
    for i, cells in (change or {}).items():
        for col, value in cells.items():
            rows[i][col] = value
    return write_csv(path, HEADER, rows)


def vi(msgid: str, **params: Any) -> str:
    token = current_locale.set("vi")
    try:
        return gettext(msgid, **params)
    finally:
        current_locale.reset(token)


@pytest.fixture
def reg_import_ctx(db: Database) -> Iterator[RegistriesContext]:
    token = current_locale.set("vi")
    yield RegistriesContext(db=db)
    current_locale.reset(token)


@pytest.fixture
def reg_small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small batches, so that a few hundred rows cross many write and key-lookup batches."""
    monkeypatch.setattr(imports, "BATCH", 64)
    monkeypatch.setattr(imports, "KEY_CHECK_BATCH", 50)


async def count(db: Database, registry: str) -> int:
    async with db.uow(readonly=True) as uow:
        return int(
            await uow.session.scalar(
                select(func.count()).select_from(records).where(records.c.registry == registry)
            )
            or 0
        )


async def audits(db: Database, action: str) -> list[AuditRecord]:
    async with db.uow(readonly=True) as uow:
        query = select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq)
        return list(await uow.session.scalars(query))


async def test_a_good_csv_is_written_whole_in_one_commit_with_one_audit_record(
    reg_import_ctx: RegistriesContext, db: Database, tmp_path: Path, reg_small_batches: None
) -> None:
    path = people_csv(tmp_path / "people.csv", 250)
    report = await imports.import_file(reg_import_ctx, WRITER, "population", path, prov=PROV)
    assert report.ok and report.errors == []
    assert (report.rows, report.written, report.fmt) == (250, 250, "csv")
    assert report.digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert await count(db, "population") == 250

    async with db.uow(readonly=True) as uow:
        first = await engine.read(uow.session, "population", id_number(0))
        third = await engine.read(uow.session, "population", id_number(2))
    assert first is not None and third is not None
    assert first.data["permanent_address"] == {
        "street": "0 Phố Đội Cấn",
        "commune_code": "00004",
        "province_code": "01",
    }
    assert "street" not in third.data["permanent_address"]  # the empty cell
    assert (first.changed_by, first.reason, first.legal_basis) == (
        "operator",
        "initial load",
        PROV.legal_basis,
    )
    async with db.uow(readonly=True) as uow:
        found = await engine.search(
            uow.session, "population", name="nguyen van an", birth_year=1990, province="01", limit=100
        )
    assert len(found) == 25

    [entry] = await audits(db, imports.IMPORTED)
    assert entry.actor == WRITER.ref and entry.object_type == "population"
    assert entry.object_id == f"sha256:{report.digest}"
    assert entry.legal_basis == PROV.legal_basis
    assert entry.details["rows"] == 250 and entry.details["file"] == "people.csv"


async def test_one_bad_row_among_many_writes_nothing_and_names_row_and_field(
    reg_import_ctx: RegistriesContext, db: Database, tmp_path: Path, reg_small_batches: None
) -> None:
    path = people_csv(tmp_path / "people.csv", 300, change={157: {5: "1990-02-30"}})
    report = await imports.import_file(reg_import_ctx, WRITER, "population", path, prov=PROV)
    assert not report.ok
    assert (report.rows, report.written, report.bad_rows, report.errors_total) == (300, 0, 1, 1)
    [bad] = report.errors
    # The header is row 1, as a spreadsheet shows it: data row 157 (from 0) is row 159.
    assert (bad.row, bad.field, bad.msgid) == (159, "birth_date", "Enter a date as YYYY-MM-DD")
    assert bad.message == vi("Enter a date as YYYY-MM-DD") != bad.msgid  # Vietnamese
    assert await count(db, "population") == 0
    assert await audits(db, imports.IMPORTED) == []


async def test_every_bad_row_is_reported_in_order_with_each_of_its_fields(
    reg_import_ctx: RegistriesContext, db: Database, tmp_path: Path
) -> None:
    path = people_csv(
        tmp_path / "people.csv",
        12,
        change={
            1: {6: "X", 11: "1"},  # sex, province code
            4: {0: "999090000004"},  # not a known province in the ID number
            9: {8: ""},  # status missing
        },
    )
    report = await imports.import_file(reg_import_ctx, WRITER, "population", path, prov=PROV)
    got = [(e.row, e.field, e.message) for e in report.errors]
    assert got == [
        (3, "sex", vi("Choose one of the allowed values")),
        (3, "permanent_address.province_code", vi("This value is not in the expected format")),
        (6, "id_number", vi("The first three digits are not a known province or country code")),
        (11, "status", vi("This field is required")),
    ]
    assert report.bad_rows == 3
    assert await count(db, "population") == 0


async def test_duplicate_keys_in_the_file_and_in_the_registry_are_reported(
    reg_import_ctx: RegistriesContext, db: Database, tmp_path: Path, reg_small_batches: None
) -> None:
    existing = dict(zip(HEADER, person_cells(140), strict=True))
    await svc.create(
        reg_import_ctx,
        WRITER,
        "population",
        {
            **{k: v for k, v in existing.items() if "." not in k},
            "permanent_address": {"commune_code": "00004", "province_code": "01"},
        },
    )
    rows = [person_cells(i) for i in range(200)]
    rows[120] = person_cells(3)  # the same person as row 5
    path = write_csv(tmp_path / "people.csv", HEADER, rows)

    report = await imports.import_file(reg_import_ctx, WRITER, "population", path, prov=PROV)
    assert [(e.row, e.field, e.message) for e in report.errors] == [
        (
            122,
            "id_number",
            vi("The key {key} is already used at row {first} of this file", key=id_number(3), first=5),
        ),
        (
            142,
            "id_number",
            vi(
                "A record with key {key} already exists in {registry}",
                key=id_number(140),
                registry="population",
            ),
        ),
    ]
    assert await count(db, "population") == 1  # only the record that was already there


async def test_json_lines_rows_are_numbered_by_line(
    reg_import_ctx: RegistriesContext, db: Database, tmp_path: Path
) -> None:
    good = [dict(zip(HEADER[:9], person_cells(i)[:9], strict=True)) for i in range(4)]
    for row in good:
        row["permanent_address"] = {"commune_code": "00004", "province_code": "01"}
    bad_address = {**good[3], "permanent_address": {"commune_code": "00004"}}
    lines = [json.dumps(good[0]), "{not json", "", "[1, 2]", json.dumps(bad_address), json.dumps(good[1])]
    path = tmp_path / "people.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    report = await imports.import_file(reg_import_ctx, WRITER, "population", path, prov=PROV)
    assert [(e.row, e.field, e.msgid) for e in report.errors] == [
        (2, "", "This line is not valid JSON"),
        (4, "", "Each line must be one JSON object"),
        (5, "permanent_address.province_code", "This field is required"),
    ]
    assert report.rows == 5 and await count(db, "population") == 0

    path.write_text("".join(json.dumps(g, ensure_ascii=False) + "\n" for g in good), encoding="utf-8")
    report = await imports.import_file(reg_import_ctx, WRITER, "population", path, prov=PROV)
    assert report.ok and report.written == 4 and report.fmt == "jsonl"
    assert await count(db, "population") == 4


LAND_HEADER = [
    "parcel_id",
    "commune_code",
    "province_code",
    "map_sheet",
    "parcel_number",
    "area_m2",
    "land_use_purpose",
    "primary_owner_id_number",
    "primary_owner_name",
    "owners",
    "certificate.series",
    "certificate.issued_on",
    "status",
]


def parcel(i: int, **change: str) -> list[str]:
    owners = json.dumps([{"id_number": id_number(i), "full_name": "Nguyễn Văn An"}], ensure_ascii=False)
    cells = {
        "parcel_id": f"00004-12-{i + 1}",
        "commune_code": "00004",
        "province_code": "01",
        "map_sheet": "12",
        "parcel_number": str(i + 1),
        "area_m2": "62.5" if i % 2 else "120",
        "land_use_purpose": "ODT",
        "primary_owner_id_number": id_number(i),
        "primary_owner_name": "Nguyễn Văn An",
        "owners": owners,
        "certificate.series": f"DA {100000 + i}",
        "certificate.issued_on": "2016-04-02",
        "status": "certified",
        **change,
    }
    return [cells[h] for h in LAND_HEADER]


async def test_csv_cells_are_typed_as_the_schema_declares(
    reg_import_ctx: RegistriesContext, db: Database, tmp_path: Path
) -> None:
    bad = write_csv(
        tmp_path / "land.csv",
        LAND_HEADER,
        [
            parcel(0),
            parcel(1, map_sheet="twelve"),
            parcel(2, area_m2="abc", owners="[not json"),
            parcel(3, owners='[{"id_number": "1", "full_name": "X"}]'),
        ],
    )
    report = await imports.import_file(reg_import_ctx, WRITER, "land", bad, prov=PROV)
    assert [(e.row, e.field, e.msgid) for e in report.errors] == [
        (3, "map_sheet", "Enter a whole number"),
        (4, "area_m2", "Enter a number"),
        (4, "owners", "Write this value as JSON"),
        (5, "owners.0.id_number", "This value is not in the expected format"),
    ]
    assert await count(db, "land") == 0

    good = write_csv(tmp_path / "land-good.csv", LAND_HEADER, [parcel(i) for i in range(3)])
    report = await imports.import_file(reg_import_ctx, WRITER, "land", good, prov=PROV)
    assert report.ok and report.written == 3
    async with db.uow(readonly=True) as uow:
        view = await engine.read(uow.session, "land", "00004-12-2")
    assert view is not None
    assert view.data["map_sheet"] == 12 and view.data["area_m2"] == 62.5
    assert view.data["owners"] == [{"id_number": id_number(1), "full_name": "Nguyễn Văn An"}]
    assert view.data["certificate"] == {"series": "DA 100001", "issued_on": "2016-04-02"}
    assert view.subject_id == id_number(1) and view.data.get("use_term") is None


async def test_a_bad_header_is_reported_on_row_one(
    reg_import_ctx: RegistriesContext, db: Database, tmp_path: Path
) -> None:
    header = [*HEADER, "nickname", "permanent_address.floor", "sex"]
    path = write_csv(tmp_path / "people.csv", header, [[*person_cells(0), "Bin", "3", "M"]])
    report = await imports.import_file(reg_import_ctx, WRITER, "population", path, prov=PROV)
    assert [(e.row, e.field, e.msgid) for e in report.errors] == [
        (1, "nickname", "This field is not part of the registry"),
        (1, "permanent_address.floor", "This field is not part of the registry"),
        (1, "sex", "This column appears twice in the header"),
    ]
    assert report.rows == 0 and await count(db, "population") == 0


async def test_a_file_that_is_not_utf8_is_refused(
    reg_import_ctx: RegistriesContext, db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    # What a spreadsheet's "Unicode text" export writes: UTF-16.
    path.write_bytes((",".join(HEADER) + "\n" + ",".join(person_cells(0)) + "\n").encode("utf-16"))
    report = await imports.import_file(reg_import_ctx, WRITER, "population", path, prov=PROV)
    assert [(e.row, e.msgid) for e in report.errors] == [(0, "The file is not UTF-8 text")]
    assert report.digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert await count(db, "population") == 0


async def test_the_report_is_capped_but_still_counts_every_bad_row(
    reg_import_ctx: RegistriesContext, tmp_path: Path
) -> None:
    path = people_csv(tmp_path / "people.csv", 10, change={i: {6: "X"} for i in range(10)})
    report = await imports.import_file(reg_import_ctx, WRITER, "population", path, prov=PROV, max_errors=3)
    assert len(report.errors) == 3 and report.errors_total == 10 and report.bad_rows == 10


async def test_a_file_changed_between_the_two_passes_is_refused(
    reg_import_ctx: RegistriesContext, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = people_csv(tmp_path / "people.csv", 5)
    checked = imports._check

    async def check_then_someone_appends(*args: Any) -> None:
        await checked(*args)
        with path.open("a", encoding="utf-8", newline="") as f:
            csv.writer(f).writerow(person_cells(99))

    monkeypatch.setattr(imports, "_check", check_then_someone_appends)
    with pytest.raises(Conflict):
        await imports.import_file(reg_import_ctx, WRITER, "population", path, prov=PROV)
    assert await count(db, "population") == 0
    assert await audits(db, imports.IMPORTED) == []


async def test_import_needs_write_rights_and_a_known_format(
    reg_import_ctx: RegistriesContext, db: Database, tmp_path: Path
) -> None:
    path = people_csv(tmp_path / "people.csv", 2)
    for who in (CITIZEN, LOCAL_READER):
        with pytest.raises(Forbidden):
            await imports.import_file(reg_import_ctx, who, "population", path, prov=PROV)
    with pytest.raises(ValidationFailed) as caught:
        await imports.import_file(
            reg_import_ctx, WRITER, "population", path.rename(tmp_path / "p.txt"), prov=PROV
        )
    assert caught.value.errors[0].loc == ("format",)
    report = await imports.import_file(
        reg_import_ctx, WRITER, "population", tmp_path / "p.txt", fmt="csv", prov=PROV
    )
    assert report.ok and await count(db, "population") == 2


async def export_text(ctx: RegistriesContext, actor: Principal, registry: str, **kw: Any) -> str:
    return "".join([c async for c in exports.export_records(ctx, actor, registry, purpose="backup", **kw)])


async def test_export_streams_every_record_in_the_shapes_import_reads(
    reg_import_ctx: RegistriesContext, db: Database, tmp_path: Path
) -> None:
    people = people_csv(tmp_path / "people.csv", 23)
    assert (await imports.import_file(reg_import_ctx, WRITER, "population", people, prov=PROV)).ok
    land = write_csv(tmp_path / "land.csv", LAND_HEADER, [parcel(i) for i in range(5)])
    assert (await imports.import_file(reg_import_ctx, WRITER, "land", land, prov=PROV)).ok
    async with db.uow(readonly=True) as uow:
        stored = {
            v.key: v.data
            for v in await engine.search(uow.session, "population", name="nguyen van*", limit=100)
        }
    assert len(stored) == 23

    jsonl = await export_text(reg_import_ctx, SYSTEM, "population", page=5)  # pages of 5: keyset paging
    exported = [json.loads(line) for line in jsonl.splitlines()]
    assert [d["id_number"] for d in exported] == sorted(stored)
    assert {d["id_number"]: d for d in exported} == stored

    # CSV: dotted columns, JSON arrays; importing the export elsewhere gives the same data back.
    text = await export_text(reg_import_ctx, SYSTEM, "land", fmt="csv", page=2)
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == 5 and table[0]["certificate.series"] == "DA 100000" and table[0]["map_sheet"] == "12"
    assert json.loads(table[1]["owners"]) == [{"id_number": id_number(1), "full_name": "Nguyễn Văn An"}]
    async with db.uow(readonly=True) as uow:
        before = {k: (await engine.read(uow.session, "land", k)) for k in (r["parcel_id"] for r in table)}
    copy = tmp_path / "land-export.csv"
    copy.write_text(text, encoding="utf-8")
    async with db.uow() as uow:  # make room: the same keys would be refused as already present
        await uow.session.execute(records.delete().where(records.c.registry == "land"))
        await uow.commit()
    assert (await imports.import_file(reg_import_ctx, WRITER, "land", copy, prov=PROV)).written == 5
    async with db.uow(readonly=True) as uow:
        for key, view in before.items():
            again = await engine.read(uow.session, "land", key)
            assert view is not None and again is not None and again.data == view.data


async def test_an_export_is_a_read_of_everyone_in_it(
    reg_import_ctx: RegistriesContext, db: Database, tmp_path: Path
) -> None:
    people = people_csv(tmp_path / "people.csv", 7)
    assert (await imports.import_file(reg_import_ctx, WRITER, "population", people, prov=PROV)).ok

    async def log_rows() -> list[Any]:
        async with db.uow(readonly=True) as uow:
            return list((await uow.session.execute(select(access_log))).all())

    await export_text(reg_import_ctx, SYSTEM, "population")  # the system's own job: not a person reading
    assert await log_rows() == []
    await export_text(reg_import_ctx, READER, "population", page=3, channel="api")
    rows = await log_rows()
    assert sorted(r.subject_id for r in rows) == [id_number(i) for i in range(7)]
    assert {(r.accessor_kind, r.channel, r.purpose) for r in rows} == {("official", "api", "backup")}
    assert "birth_date" in rows[0].fields
    await export_text(reg_import_ctx, SYSTEM, "population", channel="cli", log_as=("system", "system:cli"))
    cli_rows = [r for r in await log_rows() if r.channel == "cli"]
    assert len(cli_rows) == 7 and {r.accessor for r in cli_rows} == {"system:cli"}
    exported = await audits(db, exports.EXPORTED)
    assert len(exported) == 3 and exported[1].actor == READER.ref

    with pytest.raises(Forbidden):
        await export_text(reg_import_ctx, CITIZEN, "population")
    with pytest.raises(Forbidden):
        await export_text(reg_import_ctx, LOCAL_READER, "population")
