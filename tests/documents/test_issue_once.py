"""Issuing is idempotent per (dossier, template): a retried or doubled workflow step, even two racing at
once, leaves one signed certificate for the dossier, in the holders' wallets once."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from docskit import AN, BINH
from sqlalchemy import func, select

from dgov.documents import DocumentsContext, documents_context, store_issued, template
from dgov.documents.models import documents, wallet
from dgov.identity import SYSTEM
from dgov.kernel import migrate
from dgov.kernel.audit import CheckpointPolicy
from dgov.kernel.config import Settings
from dgov.kernel.db import make_engine
from dgov.kernel.keys import NodeKey
from dgov.kernel.uow import Database
from dgov.pki import init_pki

PG_ADMIN = os.environ.get("DGOV_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
PG_HOST_URL = os.environ.get("DGOV_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture
def fresh_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database of its own: racing issuers need two real connections that commit, which the shared
    test database (one rolled-back transaction per test) cannot give."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'issue-race.sqlite3'}"
        migrate.upgrade(url)
        yield url
        return
    name = f"issue_race_{uuid.uuid4().hex[:10]}"
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
async def test_two_issuers_racing_on_separate_connections_make_one_certificate(
    fresh_url: str, settings: Settings, node_key: NodeKey
) -> None:
    engines = [make_engine(fresh_url) for _ in range(2)]
    try:
        dbs = [
            Database.from_engine(e, CheckpointPolicy(key=node_key, node="race", every=1000)) for e in engines
        ]
        await init_pki(settings, dbs[0])
        contexts = [documents_context(settings, db) for db in dbs]
        t = template("birth-certificate")
        got = await asyncio.gather(
            *(
                store_issued(
                    ctx,
                    SYSTEM,
                    template_name=t.name,
                    data=t.example,
                    holders=[AN, BINH],
                    dossier_code="D-RACE",
                )
                for ctx in contexts
            )
        )
        assert got[0].document.code == got[1].document.code
        assert await _count(contexts[0], "D-RACE") == (1, 2)
    finally:
        for e in engines:
            await e.dispose()


async def _count(docs: DocumentsContext, dossier_code: str) -> tuple[int, int]:
    async with docs.db.uow(readonly=True) as uow:
        n_docs = await uow.session.scalar(
            select(func.count()).select_from(documents).where(documents.c.dossier_code == dossier_code)
        )
        n_wallet = await uow.session.scalar(
            select(func.count())
            .select_from(wallet.join(documents, documents.c.id == wallet.c.document_id))
            .where(documents.c.dossier_code == dossier_code)
        )
    return int(n_docs or 0), int(n_wallet or 0)


async def test_issuing_twice_for_one_dossier_gives_the_same_certificate(docs: DocumentsContext) -> None:
    t = template("birth-certificate")
    first = await store_issued(
        docs, SYSTEM, template_name=t.name, data=t.example, holders=[AN, BINH], dossier_code="D-RACE-1"
    )
    # Issued again (a retried or doubled step): the same certificate, the same bytes, no second one.
    again = await store_issued(
        docs, SYSTEM, template_name=t.name, data=t.example, holders=[AN, BINH], dossier_code="D-RACE-1"
    )
    assert again.document.code == first.document.code
    assert again.pdf == first.pdf and again.holders == (AN, BINH)
    assert await _count(docs, "D-RACE-1") == (1, 2)
    # Another dossier gets its own; documents without a dossier are not limited.
    other = await store_issued(
        docs, SYSTEM, template_name=t.name, data=t.example, holders=[AN], dossier_code="D-RACE-2"
    )
    assert other.document.code != first.document.code
    free = [
        await store_issued(docs, SYSTEM, template_name=t.name, data=t.example, holders=[AN]) for _ in range(2)
    ]
    assert free[0].document.code != free[1].document.code
