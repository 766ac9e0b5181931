"""Two processes initialising the PKI at once (two web workers on a fresh node) end with one root.

Each side has its own engine on a fresh database, as separate processes would; SQLite serialises them
with BEGIN IMMEDIATE, PostgreSQL with the advisory lock `init_pki` takes."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from dgov.kernel import migrate
from dgov.kernel.audit import CheckpointPolicy
from dgov.kernel.config import Settings
from dgov.kernel.db import make_engine
from dgov.kernel.keys import NodeKey
from dgov.kernel.uow import Database
from dgov.pki import init_pki, list_certificates

pytestmark = pytest.mark.slow

PG_ADMIN = os.environ.get("DGOV_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
PG_HOST_URL = os.environ.get("DGOV_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture
def fresh_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'race.sqlite3'}"
        migrate.upgrade(url)
        yield url
        return
    name = f"pki_race_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError:
        if ON_CI:
            pytest.fail("PostgreSQL is not reachable and CI=true")
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    url = f"{PG_HOST_URL}/{name}"
    migrate.upgrade(url)
    yield url
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.timeout(600)
async def test_concurrent_init_makes_one_hierarchy(
    fresh_url: str, settings: Settings, node_key: NodeKey
) -> None:
    engines = [make_engine(fresh_url) for _ in range(2)]
    try:
        dbs = [
            Database.from_engine(e, CheckpointPolicy(key=node_key, node="race", every=1000)) for e in engines
        ]
        results = await asyncio.gather(*(init_pki(settings, db) for db in dbs))
        assert sorted(len(r) for r in results) == [0, 12]
        kinds = [c.kind for c in await list_certificates(dbs[0])]
        assert kinds.count("root") == 1 and kinds.count("issuing") == 1 and kinds.count("agency") == 8
    finally:
        for e in engines:
            await e.dispose()
