"""Test fixtures: every database test runs on SQLite and on PostgreSQL, each inside a transaction that
is rolled back afterwards (the unit of work's commits become SAVEPOINT releases).

PostgreSQL tests run whenever 127.0.0.1:5432 answers; with CI=true an unreachable PostgreSQL fails the
run instead of skipping it.

The suite runs under pytest-xdist (`make test`: two workers). Session fixtures are per worker: each
worker has its own PostgreSQL databases (named after its process id) and its own temporary directory.
The demo node (`dgov init`: migrations, keys, PKI and every domain's demo data) is built once per run,
whichever worker asks first, under a file lock in the directory the workers share, and every test that
needs one gets a copy: the data directory copied, and a SQLite file copy or a PostgreSQL database made
from the demo database as a template.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine

from dbkit import (
    ON_CI,
    PG_ADMIN,
    PG_HOST_URL,
    create_pg_database,
    drop_pg_database,
    fresh_database_url,
    require_pg,
)
from dgov.kernel import migrate
from dgov.kernel.audit import CheckpointPolicy
from dgov.kernel.config import Settings
from dgov.kernel.db import make_engine
from dgov.kernel.keys import NodeKey, ensure_node_key
from dgov.kernel.uow import Database
from dgov.web.app import create_app
from dgov.web.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent
# --- the demo node: built once per run, copied by each test that needs one ---------------------------

DEMO_NODE_NAME = "test-node"
# Small, so that the few records of the audit CLI tests' chain also cross automatic checkpoints.
DEMO_CHECKPOINT_EVERY = "3"
INIT_TIMEOUT = 600.0


def shared_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory every xdist worker of this run sees: the controller's base temporary directory (each
    worker's own is a sub-directory of it); without xdist, the base temporary directory itself."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def exclusive(lock: Path) -> Iterator[None]:
    """Held by one process of the run at a time (the other workers wait)."""
    with lock.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def node_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a `dgov` subprocess on `data_dir`: nothing from the developer's shell may point
    it at another database or directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DGOV_")}
    env.update(
        DGOV_ENV="test",
        DGOV_DATA_DIR=str(data_dir),
        DGOV_ASSETS_DIR=str(ROOT / "node_modules"),
        DGOV_NODE_NAME=DEMO_NODE_NAME,
        DGOV_AUDIT_CHECKPOINT_EVERY=DEMO_CHECKPOINT_EVERY,
        DGOV_LOG_LEVEL="WARNING",
        COLUMNS="200",  # Rich would otherwise wrap messages at 80 columns
        NO_COLOR="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass(frozen=True)
class DemoNode:
    """A node after `dgov init` with the demo data, never itself used by a test: `copy_to` makes one."""

    backend: str
    data_dir: Path  # keys, PKI, document blobs (and the SQLite database)
    template: str | None  # the PostgreSQL database to copy, on PostgreSQL

    def copy_to(self, data_dir: Path) -> dict[str, str]:
        """A copy of the node in `data_dir` (which must not exist) and, on PostgreSQL, in a new database;
        returns the environment of `dgov` commands on the copy. The database is dropped at the end of the
        run (`pytest_sessionfinish`) if the test does not drop it itself."""
        shutil.copytree(self.data_dir, data_dir)
        if self.template is None:
            return node_env(data_dir)
        name = f"dgov_copy_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'.encode())
        _remember_database(name)
        return node_env(data_dir, DGOV_DATABASE_URL=f"{PG_HOST_URL}/{name}")


_DATABASES_FILE = "pg-databases.txt"
_shared: Path | None = None


def _remember_database(name: str) -> None:
    """Databases made by copies: dropped by the run's last process, whichever worker made them."""
    if _shared is not None:
        with exclusive(_shared / "pg.lock"), (_shared / _DATABASES_FILE).open("a") as f:
            f.write(name + "\n")


def _build_demo_node(backend: str, home: Path) -> DemoNode:
    template = None
    extra: dict[str, str] = {}
    if backend == "postgresql":
        require_pg()
        template = f"dgov_demo_{uuid.uuid4().hex[:12]}"
        create_pg_database(template)
        _remember_database(template)
        extra["DGOV_DATABASE_URL"] = f"{PG_HOST_URL}/{template}"
    data_dir = home / "var"
    init = subprocess.run(
        [sys.executable, "-m", "dgov", "init"],
        cwd=home,  # not the repository: a developer's .env there must not leak into the run
        env=node_env(data_dir, **extra),
        capture_output=True,
        text=True,
        timeout=INIT_TIMEOUT,
        check=False,
    )
    if init.returncode != 0:
        pytest.fail(f"dgov init ({backend}) failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")
    return DemoNode(backend, data_dir, template)


def demo_node(tmp_path_factory: pytest.TempPathFactory, backend: str) -> DemoNode:
    """The run's demo node on `backend`, built by the first process that asks for it."""
    global _shared
    _shared = shared_tmp(tmp_path_factory)
    home = _shared / f"demo-node-{backend}"
    with exclusive(_shared / f"demo-node-{backend}.lock"):
        done = home / "built"
        if done.is_file():
            template = done.read_text().strip() or None
            return DemoNode(backend, home / "var", template)
        if home.exists():  # a process that failed half-way: start again
            shutil.rmtree(home)
        home.mkdir()
        node = _build_demo_node(backend, home)
        done.write_text(node.template or "")
        return node


@pytest.fixture(scope="session")
def demo_nodes(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], DemoNode]:
    """`demo_nodes("sqlite")` / `demo_nodes("postgresql")`: the run's demo node on that database (built
    on first use; PostgreSQL unreachable: skipped, or failed under CI=true). Copy it, never change it."""
    return lambda backend: demo_node(tmp_path_factory, backend)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """The run's last process (the xdist controller, or the only one) drops the databases copies made."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    listed = factory.getbasetemp() / _DATABASES_FILE
    if not listed.is_file():
        return
    for name in set(listed.read_text().split()):
        with suppress(psycopg.Error):
            drop_pg_database(name)
    listed.unlink()


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


# --- pytest-xdist: what must run on one worker -------------------------------------------------------

# `--dist loadgroup` (set below when xdist runs, and in the Makefile) spreads tests one by one over the
# workers, except the tests of one `xdist_group`, which one worker runs. A module-scoped fixture that
# starts a node would otherwise be built once per worker that happens to get one of its tests.
NODE_MODULES = {
    "tests/identity/test_oidc_rp.py",  # one `dgov serve` with a registered relying party
    "tests/registries/test_registries_cli.py",  # one node loaded through `dgov registries import`
    "tests/cli/test_audit_cli.py",  # one node grown through the CLI per database (a group per database)
}


def pytest_configure(config: pytest.Config) -> None:
    # `pytest -n 2` means `--dist load`, which ignores the groups: make it `loadgroup` (the controller
    # schedules; each worker must then also name its tests' groups, see pytest_configure_node).
    if getattr(config.option, "dist", "no") == "load" and config.pluginmanager.hasplugin("xdist"):
        config.option.dist = "loadgroup"
    if getattr(config, "workerinput", {}).get("dgov_loadgroup"):
        config.option.loadgroup = True


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist (controller side), for each worker it starts: a worker parses the command line itself, so
    without this it would not know that `-n 2` became `loadgroup` here and would not tag its tests."""
    if node.config.getvalue("dist") == "loadgroup":
        node.workerinput["dgov_loadgroup"] = True


# The first test of a worker that uses the demo node waits for it to be built (a minute or two of
# `dgov init` on a busy machine, or for the other worker to finish building it): more than the default
# 120 s per test is needed then.
DEMO_NODE_TIMEOUT = 900


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        marked = item.get_closest_marker("timeout")
        if "demo_nodes" in item.fixturenames and (marked is None or marked.args[0] < DEMO_NODE_TIMEOUT):
            item.add_marker(pytest.mark.timeout(DEMO_NODE_TIMEOUT))
    if not config.pluginmanager.hasplugin("xdist"):  # `-p no:xdist`: one process, nothing to group
        return
    for item in items:
        if item.get_closest_marker("browser") is not None:
            # One server (copied from the demo node), one Chromium, and one book of the TOTP codes that
            # server accepted: a login must never type a code the same server already took.
            item.add_marker(pytest.mark.xdist_group("browser"))
            continue
        module = item.nodeid.split("::", 1)[0]
        if module in NODE_MODULES:
            params = getattr(getattr(item, "callspec", None), "params", {})
            group = module + "".join(f"[{v}]" for k, v in sorted(params.items()) if k in ("grown",))
            item.add_marker(pytest.mark.xdist_group(group))
