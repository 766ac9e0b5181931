"""Who reads which registry record (issue 12, defect 2), on SQLite and PostgreSQL: a table of role ×
agency × unit × registry × assurance level against the demo families (Ba Đình 00004 in Hà Nội 01; Lê Văn
Cường in Sài Gòn 26740, Hồ Chí Minh City 79) and the demo exchange rights (registries.rules explains the
rule; docs/registries-access.md has the table of national roles).

Each row is checked three ways through the service layer the pages, the API and the command line share:
a read by key, a search by the person's name, and a yes/no `exists`. Then the data API over HTTP with real
logins: the reported attack (`?name=*` with a password-only session), a one-syllable name, and an
official's search narrowed to their unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from httpx import AsyncClient
from web_support import OFFICIAL_PASSWORD, access_rows, log_in, new_official

from dgov.exchange import directory_rights, registry_services
from dgov.exchange.demo import load as load_exchange
from dgov.identity import SYSTEM, Principal, RoleGrant
from dgov.kernel.errors import Forbidden, ValidationFailed
from dgov.registries import RegistriesContext
from dgov.registries import service as svc
from dgov.registries.demo import AN, CUONG, load_families
from dgov.web.runtime import Runtime

READ, OUTSIDE, DENIED, LEVEL = "read", "outside", "denied", "level"
LEVEL_DETAIL = "Reading personal data needs a level-2 login (password and one-time code)"

# registry, key, name searched: the same person (or their card, diploma, household) in two units.
AN_POP = ("population", AN, "nguyen van an")
CUONG_POP = ("population", CUONG, "le van cuong")
AN_CARD = ("health_insurance", "DN4010190123456", "nguyen van an")
CUONG_CARD = ("health_insurance", "DN4797985001234", "le van cuong")
AN_HOUSE = ("residence", "00004-9000001", "nguyen van an")
CUONG_HOUSE = ("residence", "26740-9000001", "le van cuong")
AN_BIRTH = ("civil_status", "00004-2015-KH-900001", "nguyen van an")
AN_DIPLOMA = ("education", "TN/2008/0012345", "nguyen van an")
CUONG_DIPLOMA = ("education", "TN/2003/0101234", "le van cuong")


def official(agency: str, role: str, unit: str, level: int = 2) -> Principal:
    return Principal(kind="official", level=level, roles=(RoleGrant(agency, role, unit),))


@dataclass(frozen=True)
class Reader:
    label: str
    principal: Principal


# Demo exchange rights (exchange/demo.py): BTP reads population and residence, BCA civil status, BHXH
# population and civil status, the Ba Đình one-stop centre (UBND-00004) population, residence and health
# insurance. Owners: BCA population and residence, BTP civil status, BHXH insurance, BGDDT education.
RESIDENCE_BA_DINH = Reader(
    "BCA residence officer, Ba Đình, L2", official("BCA", "residence_officer", "00004")
)
RESIDENCE_BA_DINH_L1 = Reader(
    "BCA residence officer, Ba Đình, L1", official("BCA", "residence_officer", "00004", level=1)
)
CIVIL_BA_DINH = Reader(
    "BTP civil status officer, Ba Đình, L2", official("BTP", "civil_status_officer", "00004")
)
CIVIL_HANOI = Reader("BTP civil status officer, Hà Nội, L2", official("BTP", "civil_status_officer", "01"))
INSURANCE_HANOI = Reader("BHXH insurance officer, Hà Nội, L2", official("BHXH", "insurance_officer", "01"))
INSURANCE_HCMC = Reader("BHXH insurance officer, HCMC, L2", official("BHXH", "insurance_officer", "79"))
INSURANCE_NATIONAL = Reader(
    "BHXH insurance officer, national, L2", official("BHXH", "insurance_officer", "*")
)
INSURANCE_NATIONAL_L1 = Reader(
    "BHXH insurance officer, national, L1", official("BHXH", "insurance_officer", "*", level=1)
)
ONE_STOP = Reader("Ba Đình one-stop officer, L2", official("UBND-00004", "one_stop_officer", "00004"))
ONE_STOP_STAR = Reader(
    "Ba Đình one-stop officer granted '*', L2", official("UBND-00004", "one_stop_officer", "*")
)
BCA_ADMIN = Reader("BCA agency admin, Ba Đình, L2", official("BCA", "agency_admin", "00004"))
EDUCATION_HANOI = Reader("BGDDT registry officer, Hà Nội, L2", official("BGDDT", "registry_officer", "01"))
EDUCATION_COMMUNE = Reader(
    "BGDDT registry officer, commune 00004, L2", official("BGDDT", "registry_officer", "00004")
)
OPERATOR = Reader("platform operator, L2", Principal(kind="operator", level=2))
OPERATOR_L1 = Reader("platform operator, L1", Principal(kind="operator", level=1))
CITIZEN = Reader("citizen, L2", Principal(kind="citizen", level=2))
CLIENT = Reader(
    "client with registry.population.read",
    Principal(kind="client", client_id="agency-system", scopes=frozenset({"registry.population.read"})),
)

MATRIX: list[tuple[Reader, tuple[str, str, str], str]] = [
    # The population registry's owner, in its commune: its people only, and only at level 2.
    (RESIDENCE_BA_DINH, AN_POP, READ),
    (RESIDENCE_BA_DINH, CUONG_POP, OUTSIDE),
    (RESIDENCE_BA_DINH, AN_HOUSE, READ),
    (RESIDENCE_BA_DINH, CUONG_HOUSE, OUTSIDE),
    (RESIDENCE_BA_DINH, AN_BIRTH, READ),  # civil status through BCA's exchange right
    (RESIDENCE_BA_DINH, AN_CARD, DENIED),  # no right to health insurance
    (RESIDENCE_BA_DINH, AN_DIPLOMA, DENIED),
    (RESIDENCE_BA_DINH_L1, AN_POP, LEVEL),
    (RESIDENCE_BA_DINH_L1, AN_HOUSE, LEVEL),
    # Civil status officers read population through their exchange right, in their unit.
    (CIVIL_BA_DINH, AN_POP, READ),
    (CIVIL_BA_DINH, CUONG_POP, OUTSIDE),
    (CIVIL_BA_DINH, AN_BIRTH, READ),
    (CIVIL_BA_DINH, AN_CARD, DENIED),
    (CIVIL_HANOI, AN_POP, READ),  # a province grant covers its communes' records
    (CIVIL_HANOI, CUONG_POP, OUTSIDE),
    # Health insurance: the owner reads the cards of its province (cards carry their unit).
    (INSURANCE_HANOI, AN_CARD, READ),
    (INSURANCE_HANOI, CUONG_CARD, OUTSIDE),
    (INSURANCE_HANOI, AN_POP, READ),
    (INSURANCE_HANOI, CUONG_POP, OUTSIDE),
    (INSURANCE_HANOI, AN_HOUSE, DENIED),
    (INSURANCE_HCMC, CUONG_CARD, READ),
    (INSURANCE_HCMC, AN_CARD, OUTSIDE),
    (INSURANCE_NATIONAL, AN_CARD, READ),
    (INSURANCE_NATIONAL, CUONG_CARD, READ),
    (INSURANCE_NATIONAL, CUONG_POP, READ),
    (INSURANCE_NATIONAL, CUONG_HOUSE, DENIED),
    (INSURANCE_NATIONAL_L1, CUONG_CARD, LEVEL),
    # The commune's one-stop centre: what its exchange rights name, in its commune.
    (ONE_STOP, AN_POP, READ),
    (ONE_STOP, AN_CARD, READ),
    (ONE_STOP, AN_HOUSE, READ),
    (ONE_STOP, CUONG_POP, OUTSIDE),
    (ONE_STOP, CUONG_CARD, OUTSIDE),
    (ONE_STOP, AN_BIRTH, DENIED),
    # "*" makes a grant national only in a ministry-level agency; elsewhere it covers no unit at all.
    (ONE_STOP_STAR, AN_POP, DENIED),
    (ONE_STOP_STAR, CUONG_POP, DENIED),
    # Not a reader role.
    (BCA_ADMIN, AN_POP, DENIED),
    # Education: diplomas carry a province only, so only province (or national) grants reach them.
    (EDUCATION_HANOI, AN_DIPLOMA, READ),
    (EDUCATION_HANOI, CUONG_DIPLOMA, OUTSIDE),
    (EDUCATION_HANOI, AN_POP, DENIED),
    (EDUCATION_COMMUNE, AN_DIPLOMA, OUTSIDE),
    # Operators at level 2 everywhere; citizens never; clients by their scopes.
    (OPERATOR, CUONG_CARD, READ),
    (OPERATOR, AN_DIPLOMA, READ),
    (OPERATOR_L1, AN_POP, DENIED),
    (CITIZEN, AN_POP, DENIED),
    (CLIENT, AN_POP, READ),
    (CLIENT, CUONG_POP, READ),
    (CLIENT, AN_CARD, DENIED),
]

PURPOSE = "Giải quyết hồ sơ 000.00.12.H62-260105-0001"


@pytest.fixture
async def node(runtime: Runtime) -> RegistriesContext:
    """The demo families' records and the demo exchange directory with its access rights."""
    await load_families(runtime.db)
    await load_exchange(runtime)
    return RegistriesContext(db=runtime.db)


async def outcome(ctx: RegistriesContext, p: Principal, registry: str, key: str, name: str) -> dict[str, Any]:
    """What the reader gets: by key, by name (is the record among the results?), and by `exists`."""
    seen: dict[str, Any] = {}
    for how in ("get", "search", "exists"):
        try:
            if how == "get":
                seen[how] = (await svc.get(ctx, p, registry, key, purpose=PURPOSE)).key == key
            elif how == "search":
                found = await svc.search(ctx, p, registry, purpose=PURPOSE, name=name, limit=100)
                seen[how] = key in {v.key for v in found}
            else:
                seen[how] = await svc.exists(ctx, p, registry, key)
        except Forbidden as exc:
            seen[how] = LEVEL if exc.detail == LEVEL_DETAIL else "forbidden"
    return seen


EXPECTED = {
    READ: {"get": True, "search": True, "exists": True},
    OUTSIDE: {"get": "forbidden", "search": False, "exists": False},
    DENIED: {"get": "forbidden", "search": "forbidden", "exists": "forbidden"},
    LEVEL: {"get": LEVEL, "search": LEVEL, "exists": LEVEL},
}


async def test_the_access_matrix(node: RegistriesContext) -> None:
    wrong = []
    for reader, (registry, key, name), expected in MATRIX:
        got = await outcome(node, reader.principal, registry, key, name)
        if got != EXPECTED[expected]:
            wrong.append((reader.label, registry, key, expected, got))
    assert wrong == []


async def test_an_officials_search_stays_in_their_unit_whatever_they_ask(node: RegistriesContext) -> None:
    # A prefix common to both families, and the other unit named outright: still only Hà Nội's.
    p = INSURANCE_HANOI.principal
    hanoi = await svc.search(node, p, "health_insurance", purpose=PURPOSE, name="le van*", limit=100)
    assert hanoi == []
    asked = await svc.search(node, p, "population", purpose=PURPOSE, name="le van cuong", province="79")
    assert asked == []
    national = await svc.search(
        node, INSURANCE_NATIONAL.principal, "population", purpose=PURPOSE, name="le van cuong"
    )
    assert [v.key for v in national] == [CUONG]


@pytest.mark.parametrize("name", ["*", "**", "nguyen", "nguyen*", "  ", "-"])
async def test_a_name_needs_two_syllables_for_everyone(node: RegistriesContext, name: str) -> None:
    for reader in (INSURANCE_NATIONAL, OPERATOR, CLIENT):
        with pytest.raises(ValidationFailed) as caught:
            await svc.search(node, reader.principal, "population", purpose=PURPOSE, name=name)
        assert caught.value.errors[0].loc == ("name",)


async def test_every_read_states_a_purpose(node: RegistriesContext) -> None:
    p = RESIDENCE_BA_DINH.principal
    for read in (
        svc.get(node, p, "population", AN, purpose=" "),
        svc.search(node, p, "population", purpose="", name="nguyen van an"),
        svc.history(node, p, "population", AN, purpose=""),
    ):
        with pytest.raises(ValidationFailed) as caught:
            await read
        assert caught.value.errors[0].loc == ("purpose",)


async def test_a_right_revoked_in_the_exchange_closes_the_registry(
    node: RegistriesContext, runtime: Runtime
) -> None:

    p = ONE_STOP.principal
    assert (await svc.get(node, p, "health_insurance", AN_CARD[1], purpose=PURPOSE)).key == AN_CARD[1]
    instance = runtime.settings.exchange_instance
    await directory_rights.revoke_right(
        runtime.db,
        SYSTEM,
        client=f"{instance}/GOV/UBND-00004/MOTCUA",
        service=registry_services.service_address(instance, "health_insurance"),
    )
    with pytest.raises(Forbidden):
        await svc.get(node, p, "health_insurance", AN_CARD[1], purpose=PURPOSE)


# --- the data API and the pages, with real logins ------------------------------------------------------


async def test_the_reported_attack_a_star_search_with_a_password_only_session(
    client: AsyncClient, runtime: Runtime, node: RegistriesContext
) -> None:
    await new_official(runtime, "bhyt.l1", "insurance_officer", "BHXH", unit="*", second_factor=False)
    await log_in(runtime, client, "bhyt.l1", OFFICIAL_PASSWORD)
    h = {"X-Dgov-Purpose": "kiem tra"}
    r = await client.get("/data/health_insurance/1/read?name=*", headers=h)
    assert r.status_code == 403, r.text
    assert "mức độ 2" in r.json()["detail"]  # says why, in Vietnamese
    r = await client.get(f"/data/health_insurance/1/read?key={AN_CARD[1]}", headers=h)
    assert r.status_code == 403
    assert await access_rows(runtime.db, AN) == []  # nothing was read


async def test_a_star_or_one_syllable_name_is_refused_with_a_vietnamese_problem(
    client: AsyncClient, runtime: Runtime, node: RegistriesContext
) -> None:
    await new_official(runtime, "bhyt.toanquoc", "insurance_officer", "BHXH", unit="*")
    await log_in(runtime, client, "bhyt.toanquoc", OFFICIAL_PASSWORD)
    h = {"X-Dgov-Purpose": "kiem tra"}
    for name in ("*", "nguyen", "nguyen*"):
        r = await client.get("/data/health_insurance/1/read", params={"name": name}, headers=h)
        assert r.status_code == 422, r.text
        problem = r.json()
        assert problem["errors"][0]["loc"][-1] == "name"
        assert "hai" in problem["errors"][0]["message"]  # "ít nhất họ và tên (hai tiếng trở lên)…"
    assert await access_rows(runtime.db, AN) == []
    r = await client.get("/data/health_insurance/1/read", params={"name": "nguyen van an"}, headers=h)
    assert r.status_code == 200 and [x["content"]["card_number"] for x in r.json()["results"]] == [AN_CARD[1]]


async def test_an_insurance_official_reads_only_their_provinces_cards_through_the_api(
    client: AsyncClient, runtime: Runtime, node: RegistriesContext
) -> None:
    await new_official(runtime, "bhyt.hanoi2", "insurance_officer", "BHXH", unit="01")
    await log_in(runtime, client, "bhyt.hanoi2", OFFICIAL_PASSWORD)
    h = {"X-Dgov-Purpose": "Cap lai the BHYT"}
    r = await client.get("/data/health_insurance/1/read", params={"name": "le van cuong"}, headers=h)
    assert r.status_code == 200 and r.json()["results"] == []
    r = await client.get(f"/data/health_insurance/1/read?key={CUONG_CARD[1]}", headers=h)
    assert r.status_code == 403
    assert await access_rows(runtime.db, CUONG) == []
    r = await client.get(f"/data/health_insurance/1/read?key={AN_CARD[1]}", headers=h)
    assert r.status_code == 200 and r.json()["content"]["issuing_unit"]["province_code"] == "01"
    rows = await access_rows(runtime.db, AN)
    assert [(row.registry, row.purpose) for row in rows] == [("health_insurance", "Cap lai the BHYT")]


async def test_the_search_page_offers_only_the_registries_the_agency_may_read(
    client: AsyncClient, runtime: Runtime, node: RegistriesContext
) -> None:
    await new_official(runtime, "motcua.thu", "one_stop_officer", "UBND-00004", unit="00004")
    await log_in(runtime, client, "motcua.thu", OFFICIAL_PASSWORD)
    r = await client.get("/registries")
    assert r.status_code == 200
    offered = set(re.findall(r'<option value="([a-z_]+)"', r.text))
    assert {"population", "residence", "health_insurance"} <= offered
    assert not offered & {"civil_status", "education", "land", "business", "social_insurance"}
    # Another commune's person: with the purpose stated, the record page still refuses, and nothing
    # reaches their access log; the commune's own person is read.
    for person, status in ((CUONG, 403), (AN, 200)):
        await client.get("/registries")  # the CSRF cookie
        stated = await client.post(
            f"/registries/population/{person}",
            data={"purpose": PURPOSE, "csrftoken": client.cookies["csrftoken"]},
        )
        assert stated.status_code == 303
        r = await client.get(stated.headers["location"])
        assert r.status_code == status, r.text
    assert await access_rows(runtime.db, CUONG) == []
    assert len(await access_rows(runtime.db, AN)) == 1
