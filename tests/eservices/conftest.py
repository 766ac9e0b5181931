"""Fixtures for eservices: the demo families in the registries, and applicants acting as them.

A test that asks for `rt` runs on a database of its own kind: the demo families in the
registries, the exchange's demo directory and rights, and the BPMN processes deployed, loaded once per
worker and database (not once per test), each test inside a transaction rolled back afterwards as
everywhere else. The other tests run on the session's empty database.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from eskit import AN_ACCOUNT, BINH_ACCOUNT, CUONG_ACCOUNT, citizen, official
from sqlalchemy.ext.asyncio import AsyncEngine

from dbkit import drop_pg_database, fresh_database_url
from dgov.eservices import workflow
from dgov.eservices.dossiers_citizen import Applicant
from dgov.exchange.demo import load as load_exchange
from dgov.identity import Principal
from dgov.kernel import migrate
from dgov.kernel.audit import CheckpointPolicy
from dgov.kernel.config import Settings
from dgov.kernel.db import make_engine
from dgov.kernel.keys import NodeKey
from dgov.kernel.uow import Database
from dgov.registries.demo import AN, BINH, CUONG, load_families
from dgov.web.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
async def es_database_url(
    backend: str, tmp_path_factory: pytest.TempPathFactory, keys_dir: Path
) -> AsyncIterator[str]:
    """The eservices demo database of this worker: migrated, then the families, the exchange's demo
    and the processes, committed. Built with the session's node key; the app secret the exchange's
    demo keys are sealed with is put beside it, so every test's copy of the keys opens them."""
    url = fresh_database_url(backend, tmp_path_factory.mktemp("es-db"), "dgov_es_demo")
    migrate.upgrade(url)
    data = tmp_path_factory.mktemp("es-var")
    shutil.copytree(keys_dir, data / "keys")
    settings = Settings(
        env="test",
        data_dir=data,
        database_url=url,
        assets_dir=ROOT / "node_modules",
        outbox_in_process=False,
        node_name="test-node",
    )
    rt = Runtime.build(settings)
    try:
        await load_families(rt.db)
        await load_exchange(rt)
        async with rt.db.uow() as uow:
            await workflow.deploy_repo(uow, actor="system:test")
            await uow.commit()
    finally:
        await rt.close()
    for f in (data / "keys").iterdir():
        if not (keys_dir / f.name).exists():
            shutil.copy2(f, keys_dir / f.name)
    yield url
    if backend == "postgresql":
        drop_pg_database(url.rsplit("/", 1)[1])


@pytest.fixture(scope="session")
async def es_engine(es_database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(es_database_url)
    yield eng
    await eng.dispose()


DEMO_FIXTURES = {"rt"}


def wants_demo(request: pytest.FixtureRequest) -> bool:
    """A test that asks for the whole demo (`rt`) runs on the demo database; the others on the
    session's empty one, as in every other domain."""
    return bool(DEMO_FIXTURES & set(request.fixturenames))


@pytest.fixture
async def db(
    request: pytest.FixtureRequest, engine: AsyncEngine, es_engine: AsyncEngine, node_key: NodeKey
) -> AsyncIterator[Database]:
    """As the root `db` (every change rolled back at the end), on the demo database if the test wants it."""
    async with (es_engine if wants_demo(request) else engine).connect() as conn:
        outer = await conn.begin()
        yield Database.from_connection(conn, CheckpointPolicy(key=node_key, node="test-node", every=5))
        if outer.is_active:
            await outer.rollback()


@pytest.fixture
def settings(request: pytest.FixtureRequest, settings: Settings, es_database_url: str) -> Settings:
    return settings.model_copy(update={"database_url": es_database_url}) if wants_demo(request) else settings


@pytest.fixture
async def families(db: Database) -> Database:
    """The demo families only (no exchange, no processes); already there on the demo database (`rt`)."""
    await load_families(db)
    return db


@pytest.fixture
def an() -> Applicant:
    return Applicant(citizen(AN_ACCOUNT), AN, "Nguyễn Văn An")


@pytest.fixture
def binh() -> Applicant:
    return Applicant(citizen(BINH_ACCOUNT), BINH, "Trần Thị Bình")


@pytest.fixture
def cuong() -> Applicant:
    return Applicant(citizen(CUONG_ACCOUNT), CUONG, "Lê Văn Cường")


@pytest.fixture
def one_stop() -> Principal:
    return official("UBND-00004", "one_stop_officer", "00004")


@pytest.fixture
def civil_status_officer() -> Principal:
    return official("BTP", "civil_status_officer", "00004")


@pytest.fixture
async def rt(runtime: Runtime) -> Runtime:
    """A node with the demo families in the registries, the exchange's members and rights (the one-stop
    centre may read population, residence and health insurance) and the BPMN processes deployed: all in
    the eservices database already."""
    return runtime
