"""Population and residence records: one per person, one per household."""

from __future__ import annotations

import hashlib
import random
from datetime import date
from typing import Any

from dgov.registries.generate.people import Households, Person
from dgov.registries.generate.world import Commune, Rec

# Contacts on file: from the age of 14 (when a person may hold an account of their own), most people
# gave a mobile number and some an e-mail address. Vietnamese mobile prefixes since the 2018 renumbering.
CONTACT_AGE = 14
PHONE_SHARE = 0.85
EMAIL_SHARE = 0.35
MOBILE_PREFIXES = ("032", "033", "035", "037", "038", "039", "070", "077", "079", "081", "085", "086", "088",
                   "090", "091", "093", "094", "096", "097", "098")  # fmt: skip


class PopulationRecords(Households):
    def _street(self, rng: random.Random, c: Commune) -> str:
        if c.is_rural:
            return f"{'Ấp' if c.province in self.n.southern_provinces else 'Thôn'} {rng.randrange(1, 15)}"
        return f"Số {rng.randrange(1, 300)} {self.w.streets[rng.randrange(len(self.w.streets))]}"

    def _household_id(self, c: Commune) -> str:
        n = self.households.get(c.code, 0) + 1
        while f"{c.code}-{n:07d}" in self.taken["residence"]:
            n += 1
        self.households[c.code] = n
        return f"{c.code}-{n:07d}"

    def _population(self, p: Person, street: str, household_id: str | None, out: list[Rec]) -> None:
        c = p.commune
        data: dict[str, Any] = {
            "id_number": p.id_number,
            "surname": p.surname,
            "middle_name": p.middle,
            "given_name": p.given,
            "full_name": p.full_name,
            "birth_date": p.birth_date,
            "sex": p.sex,
            "ethnicity": p.ethnicity,
            "nationality": "VN",
            "hometown": self._place(p.home),
            "birth_place": self._place(p.home),
            "permanent_address": {"street": street, "commune_code": c.code, "province_code": c.province},
        }
        if p.father is not None:
            data["father_id_number"] = p.father.id_number
        if p.mother is not None:
            data["mother_id_number"] = p.mother.id_number
        if p.spouse is not None:
            data["spouse_id_number"] = p.spouse.id_number
        if household_id:
            data["household_id"] = household_id
        if p.death is None and self._age(p.birth) >= CONTACT_AGE:
            data.update(self._contacts(p))
        if p.death is None:
            data["status"] = "alive"
        else:
            data["status"] = "dead"
            data["death_date"] = date.fromordinal(p.death).isoformat()
        out.append(
            (
                "population",
                p.id_number,
                data,
                p.id_number,
                p.fold,
                p.birth_date,
                int(p.birth_date[:4]),
                c.province,
                c.code,
            )
        )

    def _contacts(self, p: Person) -> dict[str, str]:
        """The phone and e-mail the person gave the police (what account activation codes go to). Drawn
        from a hash of the seed and the ID number, not from the household's random stream, so that the
        rest of the data set stays exactly as it was; some people have neither (they activate in person)."""
        h = hashlib.sha256(f"{self.seed}:{p.id_number}".encode()).digest()
        out: dict[str, str] = {}
        if h[0] < 256 * PHONE_SHARE:
            head = MOBILE_PREFIXES[h[1] % len(MOBILE_PREFIXES)]
            out["phone"] = f"{head}{int.from_bytes(h[2:6], 'big') % 10**7:07d}"
        if h[6] < 256 * EMAIL_SHARE:
            out["email"] = f"{p.fold.replace(' ', '.')}.{p.id_number[-4:]}@example.org"
        return out

    def _residence(
        self, rng: random.Random, living: list[Person], household_id: str, street: str, out: list[Rec]
    ) -> None:
        head = living[0]
        formed = (
            max(head.birth, head.spouse.birth if head.spouse else head.birth) + 7000 + rng.randrange(1500)
        )
        registered = min(max(formed, self.today - 30 * 365), self.today - 1)
        c = head.commune
        members = []
        for p in living:
            rel = "head" if p is head else _relationship(head, p)
            since = max(registered, p.birth)
            members.append(
                {
                    "id_number": p.id_number,
                    "full_name": p.full_name,
                    "relationship_to_head": rel,
                    "since": date.fromordinal(since).isoformat(),
                }
            )
        data = {
            "household_id": household_id,
            "residence_type": "permanent",
            "head_id_number": head.id_number,
            "head_full_name": head.full_name,
            "address": {"street": street, "commune_code": c.code, "province_code": c.province},
            "members": members,
            "registered_on": date.fromordinal(registered).isoformat(),
            "authority": {"name": f"Công an {c.name}", "commune_code": c.code},
            "status": "active",
        }
        out.append(
            ("residence", household_id, data, head.id_number, head.fold, None, None, c.province, c.code)
        )


def _relationship(head: Person, p: Person) -> str:
    if p is head.spouse:
        return "spouse"
    if p is head.father or p is head.mother:
        return "parent"
    if head in (p.father, p.mother) or (head.spouse is not None and head.spouse in (p.father, p.mother)):
        return "child"
    return "other_relative"
