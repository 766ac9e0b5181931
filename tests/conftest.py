"""Test fixtures: every database test runs on SQLite and on PostgreSQL, each inside a transaction that
is rolled back afterwards (the unit of work's commits become SAVEPOINT releases).

PostgreSQL tests run whenever 127.0.0.1:5432 answers; with CI=true an unreachable PostgreSQL fails the
run instead of skipping it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine

from dgov.kernel import migrate
from dgov.kernel.audit import CheckpointPolicy
from dgov.kernel.config import Settings
from dgov.kernel.db import make_engine
from dgov.kernel.keys import NodeKey, ensure_node_key
from dgov.kernel.uow import Database
from dgov.web.app import create_app
from dgov.web.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("DGOV_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
PG_HOST_URL = os.environ.get("DGOV_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def require_pg() -> None:
    if pg_available():
        return
    if ON_CI:
        pytest.fail(
            "PostgreSQL is not reachable at 127.0.0.1:5432 and CI=true: PostgreSQL tests are mandatory"
        )
    pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")


def create_pg_database(name: str) -> str:
    """A fresh database per test session (and worker), dropped first if a crashed run left it."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_HOST_URL}/{name}"


def drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_database_url(backend: str, tmp: Path, name: str) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / (name + '.sqlite3')}"
    require_pg()
    return create_pg_database(f"{name}_{os.getpid()}")


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = fresh_database_url(backend, tmp_path_factory.mktemp("db"), "dgov_test")
    migrate.upgrade(url)
    yield url
    if backend == "postgresql":
        drop_pg_database(url.rsplit("/", 1)[1])


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="session")
def node_key(keys_dir: Path) -> NodeKey:
    return ensure_node_key(keys_dir)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(database_url)
    yield eng
    await eng.dispose()


@pytest.fixture
async def db(engine: AsyncEngine, node_key: NodeKey) -> AsyncIterator[Database]:
    """A database handle whose every unit of work runs inside one transaction rolled back at the end."""
    async with engine.connect() as conn:
        outer = await conn.begin()
        yield Database.from_connection(conn, CheckpointPolicy(key=node_key, node="test-node", every=5))
        if outer.is_active:
            await outer.rollback()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, keys_dir: Path) -> Settings:
    data = tmp_path / "var"
    (data / "keys").mkdir(parents=True)
    for f in keys_dir.iterdir():  # the same node key as the `db` fixture signs checkpoints with
        (data / "keys" / f.name).write_bytes(f.read_bytes())
    return Settings(
        env="test",
        data_dir=data,
        database_url=database_url,
        assets_dir=ROOT / "node_modules",
        outbox_in_process=False,
        node_name="test-node",
    )


@pytest.fixture
def runtime(settings: Settings, db: Database) -> Runtime:
    return Runtime.build(settings, db=db)


@pytest.fixture
async def client(settings: Settings, runtime: Runtime) -> AsyncIterator[AsyncClient]:
    app = create_app(settings, runtime=runtime)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """On CI a skipped PostgreSQL test is a failure, whatever skipped it."""
    outcome = yield
    report = outcome.get_result()
    if ON_CI and report.skipped and "postgresql" in item.nodeid:
        report.outcome = "failed"
        report.longrepr = f"PostgreSQL test skipped on CI (CI=true): {report.longrepr}"
