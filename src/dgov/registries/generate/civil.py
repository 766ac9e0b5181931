"""Civil status events: births (registered from BIRTH_RECORDS_FROM), marriages (one record per spouse,
before the first child) and deaths (after the births the person witnessed)."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from dgov.registries.generate.people import Households, Person
from dgov.registries.generate.world import BIRTH_RECORDS_FROM, Commune, Rec


class CivilStatusRecords(Households):
    def _registration(self, c: Commune, year: int, book: str) -> tuple[str, int]:
        key = (c.code, year, book)
        n = self.registrations.get(key, 0) + 1
        while f"{c.code}-{year}-{book}-{n:06d}" in self.taken["civil_status"]:
            n += 1
        self.registrations[key] = n
        return f"{c.code}-{year}-{book}-{n:06d}", n

    def _authority(self, c: Commune, on: int) -> dict[str, str]:
        # Before the reform the registering commune belonged to its legacy province.
        province = c.legacy_province if on < self.reform else c.province
        return {"name": f"Ủy ban nhân dân {c.name}", "commune_code": c.code, "province_code": province}

    def _civil_status(self, rng: random.Random, p: Person, out: list[Rec]) -> None:
        birth_year = int(p.birth_date[:4])
        if birth_year >= BIRTH_RECORDS_FROM:
            c = p.home
            registered = min(p.birth + rng.randrange(1, 60), self.today)
            number, n = self._registration(c, birth_year, "KS")
            data: dict[str, Any] = {
                "registration_number": number,
                "event_type": "birth",
                "book_number": f"{(n - 1) // 500 + 1:02d}",
                "entry_number": str(n),
                "id_number": p.id_number,
                "full_name": p.full_name,
                "birth_date": p.birth_date,
                "sex": p.sex,
                "ethnicity": p.ethnicity,
                "nationality": "VN",
                "event_date": p.birth_date,
                "event_place": self._place(c),
                "event_place_commune_code": c.code,
                "registration_date": date.fromordinal(registered).isoformat(),
                "authority": self._authority(c, registered),
                "status": "valid",
            }
            if p.father is not None:
                data["father_id_number"] = p.father.id_number
                data["father_full_name"] = p.father.full_name
            if p.mother is not None:
                data["mother_id_number"] = p.mother.id_number
                data["mother_full_name"] = p.mother.full_name
            self._civil(data, p, out)
        if p.spouse is not None:
            self._marriage(rng, p, out)
        if p.death is not None:
            c = p.commune
            registered = min(p.death + rng.randrange(1, 15), self.today)
            number, n = self._registration(c, date.fromordinal(p.death).year, "KT")
            death = date.fromordinal(p.death).isoformat()
            data = {
                "registration_number": number,
                "event_type": "death",
                "book_number": f"{(n - 1) // 500 + 1:02d}",
                "entry_number": str(n),
                "id_number": p.id_number,
                "full_name": p.full_name,
                "birth_date": p.birth_date,
                "sex": p.sex,
                "event_date": death,
                "event_place": self._place(c),
                "event_place_commune_code": c.code,
                "registration_date": date.fromordinal(registered).isoformat(),
                "authority": self._authority(c, registered),
                "status": "valid",
            }
            if p.spouse is not None and p.spouse.death is None:
                data["requester_id_number"] = p.spouse.id_number
                data["requester_relationship"] = "spouse"
            self._civil(data, p, out)

    def _marriage(self, rng: random.Random, p: Person, out: list[Rec]) -> None:
        """One record per spouse, written when the wife's record is (so both get the same date)."""
        if p.sex != "F":
            return
        husband = p.spouse
        assert husband is not None
        # Married before the first child, at 18 or later for her and 20 or later for him (Law on Marriage).
        earliest = max(p.birth + 18 * 366, husband.birth + 20 * 366)
        latest = min(p.birth + 34 * 365, self.today - 30)
        if p.first_child is not None:
            latest = min(latest, p.first_child - 300)
        married = earliest + rng.randrange(max(latest - earliest, 1))
        c = p.commune
        for me, other in ((p, husband), (husband, p)):
            number, n = self._registration(c, date.fromordinal(married).year, "KH")
            data = {
                "registration_number": number,
                "event_type": "marriage",
                "book_number": f"{(n - 1) // 500 + 1:02d}",
                "entry_number": str(n),
                "id_number": me.id_number,
                "full_name": me.full_name,
                "birth_date": me.birth_date,
                "sex": me.sex,
                "nationality": "VN",
                "event_date": date.fromordinal(married).isoformat(),
                "registration_date": date.fromordinal(married).isoformat(),
                "authority": self._authority(c, married),
                "spouse_id_number": other.id_number,
                "spouse_full_name": other.full_name,
                "status": "valid",
            }
            self._civil(data, me, out)

    def _civil(self, data: dict[str, Any], p: Person, out: list[Rec]) -> None:
        a = data["authority"]
        out.append(
            (
                "civil_status",
                data["registration_number"],
                data,
                p.id_number,
                p.fold,
                p.birth_date,
                int(p.birth_date[:4]),
                a["province_code"],
                a["commune_code"],
            )
        )
