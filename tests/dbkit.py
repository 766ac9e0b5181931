"""Test databases: a fresh SQLite file or PostgreSQL database, named after the process so that two
pytest-xdist workers (or two runs) never share one.

PostgreSQL tests run whenever 127.0.0.1:5432 answers; with CI=true an unreachable PostgreSQL fails the
run instead of skipping it.
"""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

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
