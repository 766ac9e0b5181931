"""Migrations on both databases, each test on a database of its own (never the shared session one):
up to head, down to base, up again; one linear, numbered history; and no drift between what the
migrations build and what the models declare."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text

from dgov.domains import load_models
from dgov.kernel import migrate
from dgov.kernel.config import to_sync_url
from dgov.kernel.db import Base, install_sqlite_hooks

PG_ADMIN = os.environ.get("DGOV_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
PG_HOST_URL = os.environ.get("DGOV_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
ON_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
VERSIONS = Path(str(resources.files("dgov.migrations") / "versions"))

load_models()


def _pg_reachable() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _fresh_pg() -> Iterator[str]:
    if not _pg_reachable():
        if ON_CI:
            pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 and CI=true: its tests are mandatory")
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    name = f"dgov_migr_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_HOST_URL}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database that only this test touches."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.sqlite3'}"
    else:
        yield from _fresh_pg()


def sync_engine(url: str) -> Engine:
    engine = create_engine(to_sync_url(url))
    if engine.dialect.name == "sqlite":
        install_sqlite_hooks(engine)
    return engine


def tables(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(inspect(conn).get_table_names())


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return migrate.current_revision(conn)


MODEL_TABLES = set(Base.metadata.tables)


def test_models_declare_tables() -> None:
    kernel = {"audit_head", "audit_records", "audit_checkpoints", "outbox_messages", "outbox_deliveries"}
    assert kernel <= MODEL_TABLES


def test_upgrade_downgrade_upgrade(fresh_url: str) -> None:
    engine = sync_engine(fresh_url)
    try:
        head = migrate.head_revision(fresh_url)
        assert head is not None
        assert current(engine) is None

        migrate.upgrade(fresh_url)
        assert current(engine) == head
        assert tables(engine) == MODEL_TABLES | {"alembic_version"}
        with engine.connect() as conn:
            # The chain's genesis row is data the schema depends on, so the migration writes it.
            assert conn.execute(text("SELECT id, seq, hash FROM audit_head")).all() == [(1, 0, "0" * 64)]

        migrate.downgrade(fresh_url, "base")
        assert current(engine) is None
        assert tables(engine) - {"alembic_version"} == set(), "downgrade to base left tables behind"

        migrate.upgrade(fresh_url)
        assert current(engine) == head
        assert tables(engine) == MODEL_TABLES | {"alembic_version"}
    finally:
        engine.dispose()


def test_each_step_goes_down_and_up_again(fresh_url: str) -> None:
    """Every revision's downgrade undoes exactly its upgrade, not only the whole history at once."""
    script = ScriptDirectory.from_config(migrate.alembic_config(fresh_url))
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
    engine = sync_engine(fresh_url)
    try:
        for rev in revisions:
            migrate.upgrade(fresh_url, rev)
            after_up = tables(engine)
            migrate.downgrade(fresh_url, "-1")
            migrate.upgrade(fresh_url, rev)
            assert tables(engine) == after_up, rev
            assert current(engine) == rev
    finally:
        engine.dispose()


def test_no_drift_between_migrations_and_models(fresh_url: str) -> None:
    migrate.upgrade(fresh_url)
    engine = sync_engine(fresh_url)
    try:
        with engine.connect() as conn:
            opts = {"compare_type": True, "target_metadata": Base.metadata}
            ctx = MigrationContext.configure(conn, opts=opts)
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], "models and migrations differ; write a migration:\n" + "\n".join(map(repr, diff))


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    yield from _fresh_pg()


def _upgrade_in_a_process(url: str) -> subprocess.Popen[str]:
    code = "import sys\nfrom dgov.kernel import migrate\nmigrate.upgrade(sys.argv[1])\n"
    return subprocess.Popen(
        [sys.executable, "-c", code, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for(predicate: Callable[[], bool], what: str, proc: subprocess.Popen[str]) -> None:
    """Poll a condition the other process will reach; the deadline only turns a hang into a failure."""
    deadline = time.monotonic() + 60
    while not predicate():
        assert proc.poll() is None, f"migrator exited before {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.slow  # migrators in subprocesses
def test_postgresql_migrators_take_turns(fresh_pg_url: str) -> None:
    """A second `dgov migrate` (another pod, another deploy step) waits for the first, then finds head."""
    dbname = fresh_pg_url.rsplit("/", 1)[1]
    with (
        psycopg.connect(f"{PG_ADMIN} dbname={dbname}") as holder,
        psycopg.connect(PG_ADMIN, autocommit=True) as watcher,
    ):
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (migrate.MIGRATION_LOCK_KEY,))
        proc = _upgrade_in_a_process(fresh_pg_url)
        try:

            def migrator_waits() -> bool:
                row = watcher.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                    "WHERE d.datname = %s AND l.locktype = 'advisory' AND NOT l.granted",
                    (dbname,),
                ).fetchone()
                return bool(row and row[0])

            _wait_for(migrator_waits, "the migrator to queue on the migration lock", proc)
            # While it waits it has created nothing.
            assert holder.execute("SELECT to_regclass('alembic_version')").fetchone() == (None,)
            holder.commit()  # releases the lock
            _out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    engine = sync_engine(fresh_pg_url)
    try:
        assert current(engine) == migrate.head_revision(fresh_pg_url)
    finally:
        engine.dispose()


@pytest.mark.slow  # migrators in subprocesses
def test_postgresql_concurrent_upgrades_both_succeed(fresh_pg_url: str) -> None:
    procs = [_upgrade_in_a_process(fresh_pg_url) for _ in range(3)]
    results = [(p.communicate(timeout=120), p.returncode) for p in procs]
    assert [code for _out, code in results] == [0, 0, 0], results
    engine = sync_engine(fresh_pg_url)
    try:
        assert current(engine) == migrate.head_revision(fresh_pg_url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM audit_head")).scalar_one() == 1
    finally:
        engine.dispose()


# --- the history itself -----------------------------------------------------------------------------


def _migration_files() -> list[Path]:
    return sorted(p for p in VERSIONS.glob("*.py") if p.name != "__init__.py")


def _assigned(path: Path, name: str) -> object:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            assert isinstance(node, ast.Assign)
            return ast.literal_eval(node.value)
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            return ast.literal_eval(node.value) if node.value is not None else None
    raise AssertionError(f"{path.name} does not assign {name}")


def test_migration_files_are_numbered_and_linear() -> None:
    files = _migration_files()
    assert files, VERSIONS
    previous: str | None = None
    for i, path in enumerate(files, start=1):
        m = re.fullmatch(r"(\d{4})_[a-z0-9_]+\.py", path.name)
        assert m, f"{path.name}: name migrations NNNN_what_it_does.py"
        number = m.group(1)
        assert int(number) == i, f"{path.name}: expected number {i:04d} (no gaps, no duplicates)"
        assert _assigned(path, "revision") == number, f"{path.name}: revision id must be {number!r}"
        assert _assigned(path, "down_revision") == previous, f"{path.name}: must follow {previous!r}"
        assert _assigned(path, "branch_labels") is None
        assert _assigned(path, "depends_on") is None
        previous = number


def test_script_directory_has_a_single_head_matching_the_last_file() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    heads = script.get_heads()
    assert heads == [_migration_files()[-1].name[:4]]
    assert len(script.get_bases()) == 1
