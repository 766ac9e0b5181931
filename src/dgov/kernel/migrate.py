"""Running Alembic from code: `dgov migrate`, `dgov check`, `/readyz` and the tests share this."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from dgov.kernel.config import to_sync_url

# PostgreSQL advisory lock held for the whole migration transaction ("dgov" in ASCII): two deploy steps
# migrating at once would otherwise both create the same tables, and one would fail half-way.
MIGRATION_LOCK_KEY = 0x64676F76


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "dgov:migrations")
    cfg.set_main_option("sqlalchemy.url", to_sync_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """Works on a sync connection (use `AsyncConnection.run_sync`)."""
    return MigrationContext.configure(connection).get_current_revision()
