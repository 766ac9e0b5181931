"""Database engines, the declarative base and portable column types.

SQLite is the embedded default and PostgreSQL the production database; the same models serve both.
SQLite gets WAL (readers never block the writer), foreign keys, and `synchronous=FULL` so that a
commit we acknowledged survives a power cut.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from dgov.kernel.logging import guard_library_loggers

# Stable constraint names so that Alembic migrations are identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite has no timezone type)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use kernel.clock")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, _dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL (indexable), JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy, not the driver, decide when transactions begin, so SAVEPOINTs and
    # BEGIN IMMEDIATE work as written (see SQLAlchemy's "pysqlite serializable" recipe).
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=FULL",
        "foreign_keys=ON",
        "busy_timeout=30000",
        "temp_store=MEMORY",
    ):
        cur.execute(f"PRAGMA {pragma}")
    cur.close()


def _sqlite_on_begin(conn: Any) -> None:
    # Writers take the write lock up front: a deferred transaction that upgrades to writing can
    # fail with SQLITE_BUSY_SNAPSHOT instead of waiting its turn.
    mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
    conn.exec_driver_sql(f"BEGIN {mode}")


def install_sqlite_hooks(sync_engine: Any) -> None:
    event.listen(sync_engine, "connect", _sqlite_on_connect)
    event.listen(sync_engine, "begin", _sqlite_on_begin)


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    # Statements' parameters are dossier and registry data: never in an exception's text or an echo line.
    kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    if url.startswith("postgresql"):
        # No pool_pre_ping: it costs a round trip on every checkout, i.e. on every request. Connections
        # are recycled before servers or middleboxes drop idle ones; a connection PostgreSQL dropped
        # anyway (a restart) fails its one request and is discarded by the pool.
        kwargs.update(pool_size=10, max_overflow=20, pool_recycle=1800)
    guard_library_loggers()  # before the first statement: the drivers log parameters at DEBUG
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        install_sqlite_hooks(engine.sync_engine)
    return engine


def utcnow_naive_safe(value: datetime) -> datetime:
    """Normalise a datetime read back from either database to aware UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
