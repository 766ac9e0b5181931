"""The world the authorisation matrix runs in: one app over its own database with the demo data loaded,
the demo people logged in (one session per role of the matrix), and the real ids that fill the routes'
path parameters. Built once per database and shared by every row of the matrix.

Nothing here bypasses an authorisation check: the citizens log in through the login pages, the other
roles get real sessions from identity's session store (officials hold a second factor, and a TOTP code
cannot be replayed within its 30-second step, so logging twenty people in through the form would be
slow and flaky), and the API client gets its token from `POST /oauth/token`.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pyotp
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import select

from dgov.documents.models import documents, wallet
from dgov.domains import domain_modules
from dgov.eservices import dossiers_citizen, workflow_demo, worklist
from dgov.eservices.dossiers_citizen import Applicant
from dgov.eservices.workflow_models import WorkItem
from dgov.exchange import pubsub
from dgov.exchange.pubsub_models import Delivery
from dgov.identity import SYSTEM, Principal, sessions
from dgov.identity import demo as identity_demo
from dgov.identity import service as id_service
from dgov.identity.clients import add_client
from dgov.identity.context import IdentityContext
from dgov.identity.models import Account, OfficialRole
from dgov.kernel import clock, migrate
from dgov.kernel.config import Settings
from dgov.registries import demo as registries_demo
from dgov.web.app import create_app
from dgov.web.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = os.environ.get("DGOV_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
PG_HOST_URL = os.environ.get("DGOV_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# The matrix needs the demo families and a population to search, not the 10,000 people of `dgov init`.
PEOPLE = 200
OFFICIAL_PASSWORD = identity_demo.OFFICIAL_PASSWORD

AN, BINH, CUONG = registries_demo.AN, registries_demo.BINH, registries_demo.CUONG

# The matrix's roles: column code → who. The demo objects (An's family, his dossier, his records) are
# in Phường Ba Đình (unit 00004) of Hà Nội (province 01); "out" officials hold the same role in
# Sài Gòn (commune 26740 / province 79) or in another agency.
#   ("citizen", id_number, level) | ("official", username, level)
ROLES: dict[str, tuple[str, str, int]] = {
    "anon": ("anonymous", "", 0),
    "cit1": ("citizen", CUONG, 1),  # Lê Văn Cường, password only
    "cit2": ("citizen", AN, 2),  # Nguyễn Văn An: owns the dossier, the wallet documents, Khang's guardian
    "cit2x": ("citizen", BINH, 2),  # Trần Thị Bình: another citizen (An's wife, not on his dossier)
    "csv": ("official", "hotich.badinh", 2),  # BTP civil status, Ba Đình
    "csvx": ("official", "hotich.saigon", 2),  # BTP civil status, Sài Gòn
    "res": ("official", "cutru.badinh", 2),  # BCA residence, Ba Đình
    "resx": ("official", "cutru.saigon", 2),  # BCA residence, Sài Gòn
    "ins": ("official", "bhyt.hanoi", 2),  # BHXH insurance, Hà Nội
    "insx": ("official", "bhyt.hcm", 2),  # BHXH insurance, Hồ Chí Minh city
    "ins1": ("official", "bhyt.hanoi", 1),  # the same Hà Nội insurance officer, password-only session
    "one": ("official", "motcua.badinh", 2),  # one-stop officer, UBND Ba Đình
    "onex": ("official", "motcua.saigon", 2),  # one-stop officer, UBND Sài Gòn
    "reg": ("official", "dancu.badinh", 2),  # BCA registry officer, Ba Đình
    "regx": ("official", "dancu.saigon", 2),  # BCA registry officer, Sài Gòn
    "adm": ("official", "quanly.badinh", 2),  # BTP agency admin, Ba Đình
    "admx": ("official", "quanly.saigon", 2),  # BTP agency admin, Sài Gòn
    "op": ("official", "quantri", 2),  # the platform operator
    "api": ("client", "matrix-bhxh", 0),  # an agency system: bearer token with registry.population.read
}

# username, agency, role, unit: the officials the demo lacks (the demo has one per role, all in Hà Nội).
EXTRA_OFFICIALS = [
    ("hotich.saigon", "BTP", "civil_status_officer", "26740"),
    ("cutru.saigon", "BCA", "residence_officer", "26740"),
    ("bhyt.hcm", "BHXH", "insurance_officer", "79"),
    ("motcua.saigon", "UBND-26740", "one_stop_officer", "26740"),
    ("dancu.badinh", "BCA", "registry_officer", "00004"),
    ("dancu.saigon", "BCA", "registry_officer", "26740"),
    ("quanly.badinh", "BTP", "agency_admin", "00004"),
    ("quanly.saigon", "BTP", "agency_admin", "26740"),
    ("muctieu.badinh", "UBND-00004", "one_stop_officer", "00004"),  # the target of the operator's pages
]
API_CLIENT_SCOPES = ("registry.population.read",)


@dataclass
class World:
    app: Any
    runtime: Runtime
    http: AsyncClient
    csrf: str
    tokens: dict[str, str] = field(default_factory=dict)  # role → session cookie (or bearer token for api)
    ids: dict[str, str] = field(default_factory=dict)  # path parameter fillers

    async def renew(self, role: str) -> None:
        """New sessions for `role`'s account (after a row that logged it out, maybe everywhere)."""
        account = ROLES[role][1]
        for other, (kind, who, level) in ROLES.items():
            if kind in {"citizen", "official"} and who == account:
                self.tokens[other] = await new_session(self.runtime, who, level)


def fresh_database_url(backend: str, tmp: Path) -> tuple[str, str | None]:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / 'authz.sqlite3'}", None
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3, autocommit=True) as conn:
            name = f"dgov_authz_{os.getpid()}"
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
    except psycopg.OperationalError:
        if ON_CI:
            pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 and CI=true")
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    return f"{PG_HOST_URL}/{name}", name


def drop_pg(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())


def settings_for(url: str, data: Path) -> Settings:
    (data / "keys").mkdir(parents=True, exist_ok=True)
    return Settings(
        env="test",
        data_dir=data,
        database_url=url,
        assets_dir=ROOT / "node_modules",
        outbox_in_process=False,
        node_name="authz-node",
        # Every role calls the anonymous verification from the same test address: the matrix is about
        # who may call a route, not how often (the rate limit has its own tests in tests/documents).
        documents_verify_per_minute=100_000,
    )


def identity(rt: Runtime) -> IdentityContext:
    ctx = rt.extras.get("identity")
    if ctx is None:
        ctx = rt.extras["identity"] = identity_demo.context(rt)
    assert isinstance(ctx, IdentityContext)
    return ctx


async def account_of(rt: Runtime, who: str) -> Account:
    async with rt.db.uow(readonly=True) as uow:
        column = Account.id_number if who.isdigit() else Account.username
        account = await uow.session.scalar(select(Account).where(column == who))
    assert account is not None, who
    return account


async def new_session(rt: Runtime, who: str, level: int) -> str:
    """A session as identity's login use case opens it (the same store, the same checks on every request)."""
    ctx = identity(rt)
    account = await account_of(rt, who)
    async with ctx.db.uow() as uow:
        token = await sessions.create_in(
            uow,
            ctx,
            account,
            level=level,
            amr=["pwd", "otp"] if level >= 2 else ["pwd"],
            ip="127.0.0.1",
            user_agent="authz-matrix",
        )
        await uow.commit()
    return token


async def load_demo(rt: Runtime) -> None:
    """Every domain's demo loader, as `dgov demo` runs them, with a smaller generated population."""
    for name, module in domain_modules("demo"):
        if name == "registries":
            await registries_demo.load_demo(rt.db, people=PEOPLE)
        else:
            await module.load(rt)


async def add_officials(rt: Runtime) -> None:
    for username, agency, role, unit in EXTRA_OFFICIALS:
        await id_service.add_official(
            identity(rt),
            SYSTEM,
            username=username,
            full_name="Cán bộ kiểm thử",
            agency=agency,
            role=role,
            unit=unit,
            password=OFFICIAL_PASSWORD,
        )


def _hidden(page: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert m, f"no hidden field {name}"
    return m.group(1)


async def login_citizen(http: AsyncClient, id_number: str, level: int) -> str:
    """The real login pages: password, then (level 2) the TOTP code of the demo account's authenticator."""
    http.cookies.clear()
    form = await http.get("/login")
    csrf = http.cookies["csrftoken"]
    r = await http.post(
        "/login",
        data={
            "csrftoken": csrf,
            "id_number": id_number,
            "password": identity_demo.CITIZEN_PASSWORD,
            "next": "/account",
        },
    )
    assert r.status_code == 303, (form.status_code, r.status_code, r.text[:500])
    if level >= 2:
        seed = next(c[4] for c in identity_demo.CITIZENS if c[0] == id_number)
        assert seed is not None
        assert r.headers["location"].startswith("/login/second-factor")
        r = await http.post(
            "/login/second-factor",
            data={"csrftoken": csrf, "code": pyotp.TOTP(seed).at(clock.now()), "next": "/account"},
        )
        assert r.status_code == 303, r.text[:500]
    token = http.cookies[sessions.COOKIE]
    http.cookies.clear()
    return token


async def api_token(http: AsyncClient, rt: Runtime) -> str:
    client_id = ROLES["api"][1]
    new = await add_client(
        identity(rt),
        SYSTEM,
        client_id=client_id,
        name="Hệ thống BHXH (kiểm thử)",
        scopes=API_CLIENT_SCOPES,
        grant_types=("client_credentials",),
    )
    assert new.secret
    r = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, new.secret)
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


async def an_dossier(rt: Runtime) -> Any:
    """An files the birth bundle (Khang's little sister) through the citizens' use cases."""
    account = await account_of(rt, AN)
    an = Principal(kind="citizen", account_id=account.id, level=2)
    return await workflow_demo.submit_bundle(rt, an, AN, "Nguyễn Văn An")


async def build(rt: Runtime, app: Any, http: AsyncClient) -> World:
    """The demo data, the extra officials, a session (or token) per role, and the objects to call on."""
    await load_demo(rt)
    await add_officials(rt)
    csrf_page = await http.get("/")
    assert csrf_page.status_code == 200
    world = World(app=app, runtime=rt, http=http, csrf=http.cookies["csrftoken"])
    http.cookies.clear()
    for role, (kind, who, level) in ROLES.items():
        if kind == "citizen":
            world.tokens[role] = await login_citizen(http, who, level)
        elif kind == "official":
            world.tokens[role] = await new_session(rt, who, level)
        elif kind == "client":
            world.tokens[role] = await api_token(http, rt)
    dossier = await an_dossier(rt)
    an = applicant_of(await account_of(rt, AN))
    ids = world.ids
    ids["dossier_id"] = str(dossier.id)
    ids["draft_id"] = str((await dossiers_citizen.open_draft(rt, an, "birth-bundle")).id)
    ids["attachment"] = next(a["code"] for a in dossier.attachments if a.get("code"))
    # A death published on the exchange queues deliveries to the demo subscribers (never sent here: no
    # dispatcher runs), so that the operator's "deliver again" has a real delivery to act on.
    async with rt.db.uow() as uow:
        await pubsub.publish_event(
            uow,
            "person.died",
            {"id_number": "079085009999", "death_date": "2026-01-02"},
            instance=rt.settings.exchange_instance,
            node=rt.settings.node_name,
        )
        await uow.commit()
    async with rt.db.uow(readonly=True) as uow:
        s = uow.session
        ids["item_id"], ids["action"] = await civil_status_task(s, dossier.id)
        ids["doc_code"] = str(
            await s.scalar(
                select(documents.c.code)
                .join(wallet, wallet.c.document_id == documents.c.id)
                .where(wallet.c.holder_id == AN, documents.c.template == "residence-confirmation")
            )
        )
        target = await s.scalar(select(Account).where(Account.username == "muctieu.badinh"))
        assert target is not None
        ids["official_id"] = str(target.id)
        ids["role_id"] = str(
            await s.scalar(select(OfficialRole.id).where(OfficialRole.account_id == target.id))
        )
        delivery = (await s.execute(select(Delivery.id, Delivery.subscription_id).limit(1))).one()
        ids["delivery_id"], ids["sub_id"] = str(delivery[0]), str(delivery[1])
    # A second session of An's, which the "revoke a session" row may end.
    spare = await new_session(rt, AN, 2)
    ids["session_prefix"] = sessions.token_id(spare)[:16]
    ids["client_id"] = "matrix-disposable"
    await add_client(
        identity(rt),
        SYSTEM,
        client_id="matrix-disposable",
        name="Ứng dụng bị vô hiệu hoá (kiểm thử)",
        scopes=["openid"],
        redirect_uris=["https://app.example/cb"],
    )
    return world


async def civil_status_task(s: Any, dossier_id: uuid.UUID) -> tuple[str, str]:
    """The dossier's task in the civil status officers' queue of Ba Đình, and an action that task does
    not offer (so an allowed official's request is refused by validation, after the authorisation)."""
    items = list(await s.scalars(select(WorkItem).where(WorkItem.dossier_id == dossier_id)))
    item = next(i for i in items if i.role == "civil_status_officer")
    assert (item.agency, item.unit) == ("BTP", "00004"), (item.agency, item.unit)
    absent = next(a for a in worklist.OFFICIAL_ACTIONS if a not in item.actions.split(","))
    return str(item.id), absent


def transport(app: Any) -> AsyncClient:
    return AsyncClient(
        transport=ASGITransport(app=app, raise_app_exceptions=False), base_url="http://testserver"
    )


def app_for(settings: Settings) -> tuple[Any, Runtime]:
    migrate.upgrade(str(settings.database_url))
    rt = Runtime.build(settings)
    return create_app(settings, runtime=rt), rt


def applicant_of(account: Account) -> Applicant:
    principal = Principal(kind="citizen", account_id=account.id, level=2)
    return Applicant(principal, str(account.id_number), account.full_name)
