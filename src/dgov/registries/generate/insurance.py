"""Health insurance cards and social insurance books, which share the person's insurance number."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from dgov.registries.generate.people import Households, Person
from dgov.registries.generate.world import Rec

# Who contributes to social insurance, by health insurance category: employees of enterprises (DN) and of
# the state (HC) compulsorily; pensioners (HT) drew a pension from their contributions; some of those
# insured through their household (GD) contribute voluntarily.
COMPULSORY = frozenset({"DN", "HC"})
VOLUNTARY_SHARE = 0.12
EMPLOYERS = (
    "Công ty Cổ phần", "Công ty TNHH", "Công ty TNHH MTV", "Ủy ban nhân dân", "Trường Tiểu học", "Bệnh viện",
)  # fmt: skip
POSITIONS = ("Nhân viên", "Công nhân", "Kỹ sư", "Kế toán", "Giáo viên", "Chuyên viên", "Lái xe", "Điều dưỡng")


class InsuranceRecords(Households):
    def _insurance(self, rng: random.Random, p: Person, street: str, out: list[Rec]) -> None:
        """A health insurance card for most people (every child under 6), and a social insurance book for
        those who contribute, under the same insurance number (mã số BHXH)."""
        age = self._age(p.birth)
        if age >= 6 and rng.random() > self.w.hi_coverage:
            return
        cat = _hi_category(rng, age)
        level = self.w.hi_levels[cat]
        c = p.commune
        self.si_no += 1
        si_number = f"{c.legacy_province}{self.si_perm(self.si_no):08d}"
        while (
            f"{cat}{level}{c.province}{si_number}" in self.taken["health_insurance"]
            or si_number in self.taken["social_insurance"]
        ):
            self.si_no += 1
            si_number = f"{c.legacy_province}{self.si_perm(self.si_no):08d}"
        year = self.as_of.year
        if cat == "TE":
            start = p.birth
            bd = date.fromordinal(p.birth)
            end = date(bd.year + 6, bd.month, min(bd.day, 28)).toordinal() - 1
        else:
            start, end = date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal()
        data: dict[str, Any] = {
            "card_number": f"{cat}{level}{c.province}{si_number}",
            "holder_id_number": p.id_number,
            "social_insurance_number": si_number,
            "full_name": p.full_name,
            "birth_date": p.birth_date,
            "sex": p.sex,
            "beneficiary_category": cat,
            "benefit_level": level,
            "valid_from": date.fromordinal(start).isoformat(),
            "valid_to": date.fromordinal(end).isoformat(),
            "initial_clinic": {"code": c.clinic, "name": f"Trạm Y tế {c.name}", "province_code": c.province},
            "address": f"{street}, {c.name}, {c.province_name}",
            "issued_on": date.fromordinal(start).isoformat(),
            # Where the card is managed: officials read it in this unit only (registries.rules).
            "issuing_unit": {"province_code": c.province, "commune_code": c.code},
            "status": "active",
        }
        if "health_insurance" in self.only:
            out.append(
                (
                    "health_insurance",
                    data["card_number"],
                    data,
                    p.id_number,
                    p.fold,
                    p.birth_date,
                    int(p.birth_date[:4]),
                    c.province,
                    c.code,
                )
            )
        if "social_insurance" in self.only and (
            cat in COMPULSORY or cat == "HT" or (cat == "GD" and rng.random() < VOLUNTARY_SHARE)
        ):
            self._social_insurance(rng, p, si_number, cat, out)

    def _social_insurance(self, rng: random.Random, p: Person, number: str, cat: str, out: list[Rec]) -> None:
        """Contribution periods from the first job (never before 1995, when the book began) to today, or
        to retirement for pensioners (60 for men, 55 for women: the ages before the 2021 reform)."""
        born = date.fromordinal(p.birth)
        start_year = max(born.year + 18 + rng.randrange(2, 8), 1995)
        if cat == "HT":
            end_year = min(born.year + (60 if p.sex == "M" else 55), self.as_of.year - 1)
        else:
            end_year = self.as_of.year
        if start_year > end_year:
            start_year = end_year
        periods: list[dict[str, Any]] = []
        year, salary = start_year, rng.randrange(18, 60) * 100_000
        voluntary = cat == "GD"
        while year <= end_year and len(periods) < 6:
            length = rng.randrange(2, 12)
            last = min(year + length - 1, end_year)
            month = 1 if year >= self.as_of.year else rng.randrange(1, 13)  # never in the future
            period: dict[str, Any] = {"from": f"{year}-{month:02d}", "salary_base": salary}
            if not voluntary:
                period["employer"] = f"{rng.choice(EMPLOYERS)} {self.n.given['M'].pick(rng)}"
                period["employer_code"] = (
                    f"{p.commune.province}{self.biz_perm(rng.randrange(99_999_999)):08d}"
                )
                period["position"] = rng.choice(POSITIONS)
            if last < end_year or cat == "HT":
                period["to"] = f"{last}-12"
            periods.append(period)
            year, salary = last + 1, int(salary * (1.2 + rng.random()))
        now = f"{self.as_of.year}-{self.as_of.month:02d}"
        months = sum(_months(q["from"], q.get("to", now)) for q in periods)
        c = p.commune
        data: dict[str, Any] = {
            "book_number": number,
            "holder_id_number": p.id_number,
            "full_name": p.full_name,
            "birth_date": p.birth_date,
            "sex": p.sex,
            "scheme": "voluntary" if voluntary else "compulsory",
            "contribution_periods": periods,
            "total_months": max(months, 1),
            "issued_on": f"{start_year}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            "issuing_office": f"Bảo hiểm xã hội {c.province_name}",
            "status": "pensioner" if cat == "HT" else "contributing",
        }
        out.append(
            ("social_insurance", number, data, p.id_number, p.fold, p.birth_date, born.year, None, None)
        )


def _hi_category(rng: random.Random, age: int) -> str:
    if age < 6:
        return "TE"
    if age < 18:
        return "HS"
    if age < 23 and rng.random() < 0.4:
        return "SV"
    if age >= 80:
        return "BT"
    if age >= 60:
        return "HT" if rng.random() < 0.4 else "GD"
    r = rng.random()
    return "DN" if r < 0.4 else "HC" if r < 0.48 else "HN" if r < 0.55 else "GD"


def _months(first: str, last: str) -> int:
    """Months from one "YYYY-MM" to another, both included."""
    return (int(last[:4]) - int(first[:4])) * 12 + int(last[5:]) - int(first[5:]) + 1
