from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, text

from dgov.domains import load_models
from dgov.kernel.db import Base, install_sqlite_hooks
from dgov.kernel.migrate import MIGRATION_LOCK_KEY

load_models()
target_metadata = Base.metadata
config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is not set"
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        install_sqlite_hooks(engine)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copy; batch mode makes one migration serve both
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # A second migrator waits here, then reads the version table and finds nothing left to do.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `dgov migrate`")
run_migrations_online()
