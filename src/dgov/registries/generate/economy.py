"""Businesses and land: some working-age people represent an enterprise or a household business; most
households hold the land they live on (and rural ones often a field), owned by the head and the spouse."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from dgov.registries.generate.people import Households, Person
from dgov.registries.generate.world import Rec
from dgov.registries.normalize import fold

# Shares of living adults aged 25–65 who represent a household business or an enterprise [rough; the GSO
# counts about 5 million household businesses and 0.9 million enterprises for about 55 million adults].
HOUSEHOLD_BUSINESS = 0.07
ENTERPRISE = 0.012
# Trade words and the VSIC 2018 level-4 code of the main line of business they go with.
TRADES = (
    ("Thương mại", "4690"), ("Xây dựng", "4100"), ("Dịch vụ ăn uống", "5610"), ("Công nghệ", "6201"),
    ("Thực phẩm", "1079"), ("Vận tải", "4933"), ("Tạp hóa", "4711"),
)  # fmt: skip
BRANDS = ("An Phát", "Minh Long", "Hưng Thịnh", "Phú Quý", "Thành Công", "Tân Tiến", "Hoàng Gia", "Việt Tiến")
FORMS = (("llc_single_member", "Công ty TNHH MTV"), ("llc_multi_member", "Công ty TNHH"),
         ("joint_stock", "Công ty Cổ phần"), ("private_enterprise", "Doanh nghiệp tư nhân"))  # fmt: skip
# How many households hold their home's land, in towns and in the countryside.
HOME_LAND = {True: 0.88, False: 0.6}
FIELD = 0.45  # rural households that also hold agricultural land
PARCELS_PER_SHEET = 400
SERIES = "ABCDEFGHKL"  # the second letter of a certificate's series, a million numbers each


class EconomyRecords(Households):
    def _business(self, rng: random.Random, p: Person, street: str, out: list[Rec]) -> None:
        age = self._age(p.birth)
        if not 25 <= age <= 65:
            return
        draw = rng.random()
        if draw >= HOUSEHOLD_BUSINESS + ENTERPRISE:
            return
        household = draw < HOUSEHOLD_BUSINESS
        c = p.commune
        trade, vsic = TRADES[rng.randrange(len(TRADES))]
        brand = BRANDS[rng.randrange(len(BRANDS))]
        number = self._business_number(c.province, household)
        registered = self.today - rng.randrange(1, max(2, min(age - 22, 25)) * 365)
        data: dict[str, Any] = {
            "registration_number": number,
            "kind": "household_business" if household else "enterprise",
            "representative_id_number": p.id_number,
            "representative_name": p.full_name,
            "head_office": {"street": street, "commune_code": c.code, "province_code": c.province},
            "main_business_line": vsic,
            "registered_on": date.fromordinal(registered).isoformat(),
            "status": "active" if rng.random() < 0.9 else "suspended",
        }
        if household:
            data["legal_form"] = "household_business"
            data["name"] = f"Hộ kinh doanh {trade} {brand}"
            data["employees"] = rng.randrange(0, 6)
        else:
            form, title = FORMS[rng.randrange(len(FORMS))]
            data["legal_form"] = form
            data["name"] = f"{title} {trade} {brand}"
            data["charter_capital"] = rng.randrange(1, 200) * 100_000_000
            data["employees"] = rng.randrange(1, 120)
        out.append(
            ("business", number, data, p.id_number, fold(data["name"])[:200], None, None, c.province, c.code)
        )

    def _business_number(self, province: str, household: bool) -> str:
        """Enterprise codes are 10 digits, household business numbers a province code, a letter and 8
        digits; both unique here (the real codes' internal structure is not modelled)."""
        kind = "H" if household else "E"
        while True:
            n = self.enterprises.get(kind + province, 0) + 1
            self.enterprises[kind + province] = n
            serial = self.biz_perm(n)
            number = f"{province}A{serial:08d}" if household else f"{province}{serial:08d}"
            if number not in self.taken["business"]:
                return number

    def _land(self, rng: random.Random, head: Person, street: str, out: list[Rec]) -> None:
        """The household's land: the home's parcel and, in the countryside, sometimes a field. Owned by
        the head, and jointly with the spouse when married."""
        c = head.commune
        # Land is held by adults: a head under 20 holds none; a spouse under 20 is not (yet) a co-owner.
        grown = self.today - 20 * 366
        if head.birth > grown:
            return
        spouse = head.spouse
        owners = [head] + (
            [spouse] if spouse is not None and spouse.death is None and spouse.birth <= grown else []
        )
        if rng.random() < HOME_LAND[not c.is_rural]:
            purpose = "ONT" if c.is_rural else "ODT"
            area = rng.randrange(150, 600) if c.is_rural else rng.randrange(40, 250)
            self._parcel(rng, owners, purpose, float(area), f"{street}, {c.name}, {c.province_name}", out)
        if c.is_rural and rng.random() < FIELD:
            purpose = rng.choice(("LUC", "LUC", "CLN", "BHK"))
            self._parcel(rng, owners, purpose, float(rng.randrange(300, 5000)), f"Cánh đồng, {c.name}", out)

    def _parcel(
        self,
        rng: random.Random,
        owners: list[Person],
        purpose: str,
        area: float,
        address: str,
        out: list[Rec],
    ) -> None:
        head = owners[0]
        c = head.commune
        while True:
            n = self.parcels.get(c.code, 0)
            self.parcels[c.code] = n + 1
            parcel_id = f"{c.code}-{n // PARCELS_PER_SHEET + 1}-{n % PARCELS_PER_SHEET + 1}"
            if parcel_id not in self.taken["land"]:
                break
        adult = max(p.birth for p in owners) + 20 * 366
        issued = min(adult + rng.randrange(1, 20 * 365), self.today - 1)
        self.certificates += 1
        serial = self.certificates
        issuer = "Sở Tài nguyên và Môi trường" if issued < self.reform else "Sở Nông nghiệp và Môi trường"
        residential = purpose in ("ONT", "ODT")
        share = round(1 / len(owners), 4)
        data: dict[str, Any] = {
            "parcel_id": parcel_id,
            "commune_code": c.code,
            "province_code": c.province,
            "map_sheet": n // PARCELS_PER_SHEET + 1,
            "parcel_number": n % PARCELS_PER_SHEET + 1,
            "address": address,
            "area_m2": area,
            "land_use_purpose": purpose,
            "use_form": "shared" if len(owners) > 1 else "private",
            "use_term": "long_term" if residential else f"{date.fromordinal(issued).year + 50}-07-01",
            "origin": rng.choice(
                (
                    "Công nhận quyền sử dụng đất",
                    "Nhận chuyển nhượng",
                    "Nhận thừa kế",
                    "Được Nhà nước giao đất",
                )
            ),
            "primary_owner_id_number": head.id_number,
            "primary_owner_name": head.full_name,
            "owners": [{"id_number": p.id_number, "full_name": p.full_name, "share": share} for p in owners],
            "certificate": {
                "series": f"C{SERIES[serial // 1_000_000 % 10]} {serial % 1_000_000:06d}",
                "entry_number": f"CS{self.certificates:07d}",
                "issued_on": date.fromordinal(issued).isoformat(),
                "issued_by": f"{issuer} {c.province_name}",
            },
            "status": "certified",
        }
        if rng.random() < 0.08:
            data["encumbrances"] = ["Thế chấp tại Ngân hàng Nông nghiệp và Phát triển Nông thôn"]
        out.append(("land", parcel_id, data, head.id_number, head.fold, None, None, c.province, c.code))
