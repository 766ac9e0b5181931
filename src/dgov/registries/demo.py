"""Demo data for the registries: the administrative units, the demo citizens' families exactly as identity's
demo accounts describe them (Nguyễn Văn An and Trần Thị Bình, married, with their son Nguyễn Minh Khang, one
household in Phường Ba Đình, Hà Nội; Lê Văn Cường in Thành phố Hồ Chí Minh), and about 10,000 generated
people with a fixed seed, so that a fresh node shows believable registries at once.

Idempotent: records that exist are left alone, and the generated population is added only once. The demo
families are written first so that the generator, which skips numbers already issued, never reuses theirs;
their other keys sit in ranges the generator does not use (household and civil status sequences from
9,000,000 and 900,000, diploma numbers with a slash).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from dgov.kernel import clock
from dgov.kernel.uow import Database
from dgov.registries import admin_units, engine
from dgov.registries.definitions import registry
from dgov.registries.engine import Provenance
from dgov.registries.generate import ACTOR as GENERATOR
from dgov.registries.generate import generate
from dgov.registries.models import records
from dgov.web.runtime import Runtime

DEMO_PEOPLE = 10_000
DEMO_SEED = 20_260_101
PROVENANCE = Provenance(actor="system:demo", reason="Demo data")

AN, BINH, KHANG, CUONG = "001090012345", "001192034567", "001216012345", "079085001234"
MAI = "001195004321"
BA_DINH = {"street": "Số 12 phố Đội Cấn", "commune_code": "00004", "province_code": "01"}
SAI_GON = {"street": "Số 45 đường Lê Lợi", "commune_code": "26740", "province_code": "79"}
AN_HOUSEHOLD, CUONG_HOUSEHOLD = "00004-9000001", "26740-9000001"


def _person(
    id_number: str, name: str, born: str, sex: str, address: dict[str, str], **extra: Any
) -> dict[str, Any]:
    surname, *middle, given = name.split()
    place = f"{admin_units.commune_name(address['commune_code'], on=date(2026, 1, 1))}, " + (
        admin_units.province_name(address["province_code"], on=date(2026, 1, 1)) or ""
    )
    return {
        "id_number": id_number,
        "surname": surname,
        "middle_name": " ".join(middle),
        "given_name": given,
        "full_name": name,
        "birth_date": born,
        "sex": sex,
        "ethnicity": "Kinh",
        "nationality": "VN",
        "hometown": place,
        "birth_place": place,
        "permanent_address": address,
        "status": "alive",
        **extra,
    }


def _authority(commune: str, province: str, on: str) -> dict[str, str]:
    # Before 1 July 2025 the registering commune was the legacy unit that bore the code.
    when = min(date.fromisoformat(on), date(2025, 6, 30))
    name = admin_units.commune_name(commune, on=when) or admin_units.commune_name(
        commune, on=date(2026, 1, 1)
    )
    return {"name": f"Ủy ban nhân dân {name}", "commune_code": commune, "province_code": province}


def family_records() -> dict[str, list[dict[str, Any]]]:
    """Every record of the demo families, by registry."""
    # The contacts on file are where activation codes go (identity's demo accounts use the same phones).
    an = _person(
        AN,
        "Nguyễn Văn An",
        "1990-03-15",
        "M",
        BA_DINH,
        spouse_id_number=BINH,
        household_id=AN_HOUSEHOLD,
        phone="0912000001",
    )
    binh = _person(
        BINH,
        "Trần Thị Bình",
        "1992-07-20",
        "F",
        BA_DINH,
        spouse_id_number=AN,
        household_id=AN_HOUSEHOLD,
        phone="0912000002",
        email="tran.thi.binh@example.org",
    )
    khang = _person(
        KHANG,
        "Nguyễn Minh Khang",
        "2016-09-01",
        "M",
        BA_DINH,
        father_id_number=AN,
        mother_id_number=BINH,
        household_id=AN_HOUSEHOLD,
    )
    cuong = _person(
        CUONG, "Lê Văn Cường", "1985-11-02", "M", SAI_GON, household_id=CUONG_HOUSEHOLD, phone="0912000003"
    )
    # Registered, but with no account: the person to try self-registration with (README).
    mai = _person(
        MAI, "Phạm Thị Mai", "1995-05-05", "F", BA_DINH, phone="0912000005", email="pham.thi.mai@example.org"
    )
    ba_dinh_2015 = _authority("00004", "01", "2015-05-10")
    marriage = {
        "event_type": "marriage",
        "nationality": "VN",
        "event_date": "2015-05-10",
        "registration_date": "2015-05-10",
        "authority": ba_dinh_2015,
        "status": "valid",
    }
    civil = [
        {
            **marriage,
            "registration_number": "00004-2015-KH-900001",
            "id_number": AN,
            "full_name": an["full_name"],
            "birth_date": an["birth_date"],
            "sex": "M",
            "spouse_id_number": BINH,
            "spouse_full_name": binh["full_name"],
        },
        {
            **marriage,
            "registration_number": "00004-2015-KH-900002",
            "id_number": BINH,
            "full_name": binh["full_name"],
            "birth_date": binh["birth_date"],
            "sex": "F",
            "spouse_id_number": AN,
            "spouse_full_name": an["full_name"],
        },
        {
            "registration_number": "00004-2016-KS-900001",
            "event_type": "birth",
            "id_number": KHANG,
            "full_name": khang["full_name"],
            "birth_date": khang["birth_date"],
            "sex": "M",
            "ethnicity": "Kinh",
            "nationality": "VN",
            "event_date": khang["birth_date"],
            "event_place": "Bệnh viện Phụ sản Hà Nội",
            "event_place_commune_code": "00004",
            "registration_date": "2016-09-12",
            "authority": _authority("00004", "01", "2016-09-12"),
            "father_id_number": AN,
            "father_full_name": an["full_name"],
            "mother_id_number": BINH,
            "mother_full_name": binh["full_name"],
            "birth_notice_number": "HN-2016-018342",
            "requester_id_number": AN,
            "requester_relationship": "father",
            "status": "valid",
        },
    ]
    residence = [
        {
            "household_id": AN_HOUSEHOLD,
            "residence_type": "permanent",
            "head_id_number": AN,
            "head_full_name": an["full_name"],
            "address": BA_DINH,
            "members": [
                {
                    "id_number": AN,
                    "full_name": an["full_name"],
                    "relationship_to_head": "head",
                    "since": "2015-06-01",
                },
                {
                    "id_number": BINH,
                    "full_name": binh["full_name"],
                    "relationship_to_head": "spouse",
                    "since": "2015-06-01",
                },
                {
                    "id_number": KHANG,
                    "full_name": khang["full_name"],
                    "relationship_to_head": "child",
                    "since": "2016-09-12",
                },
            ],
            "registered_on": "2015-06-01",
            "authority": {"name": "Công an Phường Ba Đình", "commune_code": "00004"},
            "status": "active",
        },
        {
            "household_id": CUONG_HOUSEHOLD,
            "residence_type": "permanent",
            "head_id_number": CUONG,
            "head_full_name": cuong["full_name"],
            "address": SAI_GON,
            "members": [
                {
                    "id_number": CUONG,
                    "full_name": cuong["full_name"],
                    "relationship_to_head": "head",
                    "since": "2012-03-01",
                }
            ],
            "registered_on": "2012-03-01",
            "authority": {"name": "Công an Phường Sài Gòn", "commune_code": "26740"},
            "status": "active",
        },
    ]
    clinic_ba_dinh = {"code": "01004", "name": "Trạm Y tế Phường Ba Đình", "province_code": "01"}
    clinic_sai_gon = {"code": "79740", "name": "Trạm Y tế Phường Sài Gòn", "province_code": "79"}

    def card(p: dict[str, Any], cat: str, level: int, si: str, clinic: dict[str, str]) -> dict[str, Any]:
        return {
            "card_number": f"{cat}{level}{p['permanent_address']['province_code']}{si}",
            "holder_id_number": p["id_number"],
            "social_insurance_number": si,
            "full_name": p["full_name"],
            "birth_date": p["birth_date"],
            "sex": p["sex"],
            "beneficiary_category": cat,
            "benefit_level": level,
            "valid_from": "2026-01-01",
            "valid_to": "2026-12-31",
            "initial_clinic": clinic,
            "issued_on": "2025-12-20",
            "issuing_unit": {
                "province_code": p["permanent_address"]["province_code"],
                "commune_code": p["permanent_address"]["commune_code"],
            },
            "status": "active",
        }

    insurance = [
        card(an, "DN", 4, "0190123456", clinic_ba_dinh),
        card(binh, "HC", 4, "0192034567", clinic_ba_dinh),
        card(khang, "HS", 4, "0116012345", clinic_ba_dinh),
        card(cuong, "DN", 4, "7985001234", clinic_sai_gon),
    ]

    def diploma(
        p: dict[str, Any], number: str, level: str, year: int, school: dict[str, str], **extra: Any
    ) -> dict[str, Any]:
        return {
            "diploma_number": number,
            "holder_id_number": p["id_number"],
            "full_name": p["full_name"],
            "birth_date": p["birth_date"],
            "sex": p["sex"],
            "level": level,
            "school": school,
            "graduation_year": year,
            "issued_on": f"{year}-07-20",
            "status": "valid",
            **extra,
        }

    education = [
        diploma(
            an,
            "TN/2008/0012345",
            "upper_secondary",
            2008,
            {"name": "Trường THPT Phan Đình Phùng", "province_code": "01"},
        ),
        diploma(
            an,
            "BK/2013/004512",
            "engineer",
            2013,
            {"name": "Đại học Bách khoa Hà Nội", "province_code": "01"},
            major="Công nghệ thông tin",
            classification="good",
            study_mode="full_time",
        ),
        diploma(
            binh,
            "TN/2010/0034567",
            "upper_secondary",
            2010,
            {"name": "Trường THPT Chu Văn An", "province_code": "01"},
        ),
        diploma(
            binh,
            "KTQD/2014/002211",
            "bachelor",
            2014,
            {"name": "Trường Đại học Kinh tế Quốc dân", "province_code": "01"},
            major="Kế toán",
            classification="very_good",
            study_mode="full_time",
        ),
        diploma(
            cuong,
            "TN/2003/0101234",
            "upper_secondary",
            2003,
            {"name": "Trường THPT Lê Quý Đôn", "province_code": "79"},
        ),
    ]
    return {
        "population": [an, binh, khang, cuong, mai],
        "civil_status": civil,
        "residence": residence,
        "health_insurance": insurance,
        "education": education,
    }


async def load_families(db: Database) -> int:
    """Write the demo families' records that do not exist yet; returns how many were written."""
    written = 0
    now = clock.now()
    async with db.uow() as uow:
        for name, items in family_records().items():
            reg = registry(name)
            have = await engine.keys_present(uow.session, name, [str(d[reg.key_field]) for d in items])
            for data in items:
                if str(data[reg.key_field]) not in have:
                    await engine.create(uow.session, reg, data, PROVENANCE, now)
                    written += 1
        await uow.commit()
    return written


async def _generated_before(db: Database) -> bool:
    async with db.uow(readonly=True) as uow:
        found = await uow.session.scalar(
            select(records.c.id)
            .where(records.c.registry == "population", records.c.changed_by == GENERATOR)
            .limit(1)
        )
        return found is not None


async def load_demo(db: Database, *, people: int = DEMO_PEOPLE, seed: int = DEMO_SEED) -> None:
    async with db.uow() as uow:
        await admin_units.load_admin_units(uow.session)
        await uow.commit()
    await load_families(db)
    if not await _generated_before(db):
        await generate(db, people=people, seed=seed)


async def load(rt: Runtime) -> None:
    await load_demo(rt.db)
