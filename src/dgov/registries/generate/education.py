"""Diplomas: upper secondary for most adults, university degrees for some, a few master's."""

from __future__ import annotations

import random
from typing import Any

from dgov.registries.generate.people import Households, Person
from dgov.registries.generate.world import Rec


class EducationRecords(Households):
    def _education(self, rng: random.Random, p: Person, out: list[Rec]) -> None:
        age = self._age(p.birth)
        if age < 18:
            return
        born = int(p.birth_date[:4])
        if born < 1940 or rng.random() > (
            0.8 if born >= 1995 else 0.6 if born >= 1980 else 0.4 if born >= 1965 else 0.2
        ):
            return
        c = p.home
        school = {"name": f"Trường THPT {c.name.split(' ', 1)[1]}", "province_code": c.province}
        self._diploma(rng, p, "upper_secondary", born + 18, school, None, out)
        if age < 22 or rng.random() > (0.3 if born >= 1990 else 0.18 if born >= 1975 else 0.08):
            return
        uni, uni_province = self.w.universities[rng.randrange(len(self.w.universities))]
        major = self.w.majors[rng.randrange(len(self.w.majors))]
        level = "engineer" if major.startswith("Kỹ thuật") else "bachelor"
        self._diploma(
            rng,
            p,
            level,
            born + 22 + rng.randrange(2),
            {"name": uni, "province_code": uni_province},
            major,
            out,
        )
        if age >= 26 and rng.random() < 0.1:
            self._diploma(
                rng,
                p,
                "master",
                born + 25 + rng.randrange(3),
                {"name": uni, "province_code": uni_province},
                major,
                out,
            )

    def _diploma(
        self,
        rng: random.Random,
        p: Person,
        level: str,
        year: int,
        school: dict[str, str],
        major: str | None,
        out: list[Rec],
    ) -> None:
        n = self.diplomas.get(level, 0) + 1
        while f"{self.w.diploma_prefixes[level]}{year}{n:08d}" in self.taken["education"]:
            n += 1
        self.diplomas[level] = n
        number = f"{self.w.diploma_prefixes[level]}{year}{n:08d}"
        data: dict[str, Any] = {
            "diploma_number": number,
            "holder_id_number": p.id_number,
            "full_name": p.full_name,
            "birth_date": p.birth_date,
            "sex": p.sex,
            "level": level,
            "school": school,
            "graduation_year": year,
            "issued_on": f"{year}-07-{rng.randrange(10, 29)}",
            "status": "valid",
        }
        if major:
            data["major"] = major
            data["classification"] = rng.choice(
                ("excellent", "very_good", "very_good", "good", "good", "good", "fairly_good", "average")
            )
        out.append(
            (
                "education",
                number,
                data,
                p.id_number,
                p.fold,
                p.birth_date,
                int(p.birth_date[:4]),
                school["province_code"],
                None,
            )
        )
