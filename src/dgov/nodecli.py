"""The node's own commands: `dgov migrate|init|serve|check`, `dgov audit …`, `dgov outbox …`, `dgov demo …`.

`dgov.cli` lists them in its lazy table and imports this module only when one of them runs, so that
`dgov version` and `dgov --help` never pay for SQLAlchemy, Alembic or the domains.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from dgov.clisupport import run_with_runtime
from dgov.domains import domain_modules
from dgov.kernel import audit as audit_chain
from dgov.kernel import clock, migrate
from dgov.kernel.audit import AuditEntry
from dgov.kernel.config import get_settings
from dgov.kernel.db import make_engine
from dgov.kernel.files import secure_data_dir
from dgov.kernel.keys import NODE_KEY_FILE, ensure_node_key, ensure_secret
from dgov.kernel.logging import uvicorn_log_config
from dgov.kernel.models import AuditRecord
from dgov.web.runtime import Runtime

T = TypeVar("T")

# Mounted command by command in dgov.cli's lazy table (which holds the help shown by `dgov --help`).
app = typer.Typer(no_args_is_help=True, add_completion=False)
audit_app = typer.Typer(help="The tamper-evident audit chain.", no_args_is_help=True)
outbox_app = typer.Typer(help="The transactional outbox.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(outbox_app, name="outbox")
console = Console()
err = Console(stderr=True)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@app.command("migrate")
def migrate_cmd(revision: str = "head") -> None:
    """Bring the database schema to REVISION (default: the newest)."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.db_url, revision)
    console.print(f"[green]schema at[/] {revision}")


DEMO_ACTION = "system.demo_loaded"


async def _domains_with_demo(rt: Runtime) -> set[str]:
    """Domains whose demo data this database already holds (one audit marker per domain), so a
    domain added to a node later still gets its demo data from `dgov init`."""
    async with rt.db.uow(readonly=True) as uow:
        rows = await uow.session.scalars(
            select(AuditRecord.object_id).where(
                AuditRecord.action == DEMO_ACTION, AuditRecord.object_type == "domain"
            )
        )
        return set(rows)


async def _load_demo(rt: Runtime, *, force: bool) -> list[str]:
    """Each domain's loader is idempotent; without `force` a domain already loaded is skipped."""
    done = set() if force else await _domains_with_demo(rt)
    loaded = []
    for name, module in domain_modules("demo"):
        if name in done:
            continue
        await module.load(rt)
        async with rt.db.uow() as uow:
            uow.audit(
                AuditEntry(actor="system:cli", action=DEMO_ACTION, object_type="domain", object_id=name)
            )
            await uow.commit()
        loaded.append(name)
    return loaded


demo_app = typer.Typer(help="Load the demo data set (accounts, registries, agencies…), or run a journey.")
app.add_typer(demo_app, name="demo")


@demo_app.callback(invoke_without_command=True)
def demo(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option(help="Load even if demo data is already there")] = False,
) -> None:
    """Load the demo data set (accounts, registries, agencies…)."""
    if ctx.invoked_subcommand is not None:
        return

    async def go(rt: Runtime) -> None:
        loaded = await _load_demo(rt, force=force)
        console.print(
            f"[green]demo data loaded[/]: {', '.join(loaded)}" if loaded else "demo data already loaded"
        )

    run_with_runtime(go)


@demo_app.command("birth")
def demo_birth(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The birth bundle end to end: An files for a new child, three agencies' officials approve."""
    from dgov.eservices import birth_journey  # only this journey needs the workflow engine

    async def go(rt: Runtime) -> dict[str, Any]:
        await _load_demo(rt, force=False)
        return await birth_journey(rt)

    out = run_with_runtime(go)
    if as_json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        for k, v in out.items():
            console.print(f"{k}: {v}")


@app.command()
def init(with_demo: Annotated[bool, typer.Option("--demo/--no-demo")] = True) -> None:
    """Create var/ (database, files, keys), migrate, and load demo data into an empty database."""
    settings = get_settings()
    for d in (settings.data_dir, settings.files_dir):
        d.mkdir(parents=True, exist_ok=True)
    ensure_node_key(settings.keys_dir)
    ensure_secret(settings.keys_dir)
    migrate.upgrade(settings.db_url)
    secure_data_dir(settings)
    console.print(f"[green]data directory[/] {settings.data_dir}")

    async def go(rt: Runtime) -> None:
        loaded = await _load_demo(rt, force=False) if with_demo else []
        if loaded:
            console.print(f"[green]demo data loaded[/]: {', '.join(loaded)}")

    run_with_runtime(go)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (DGOV_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (DGOV_PORT)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
) -> None:
    """Serve the web application and APIs."""
    import uvicorn  # only `serve` needs the ASGI server and its event-loop and HTTP libraries

    settings = get_settings()
    if workers > 1:
        # Each worker is a process with its own counters; prometheus-client merges them through files.
        mp_dir = settings.data_dir / "metrics"
        shutil.rmtree(mp_dir, ignore_errors=True)
        mp_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(mp_dir)
        os.environ["DGOV_METRICS_MULTIPROC_DIR"] = str(mp_dir)
    uvicorn.run(
        "dgov.web.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_config=uvicorn_log_config(settings.log_level, json_lines=settings.log_json),
        server_header=False,
        proxy_headers=settings.trusted_proxies is not None,
        forwarded_allow_ips=settings.trusted_proxies,
    )


@app.command()
def check() -> None:
    """Check configuration, database reachability and that migrations are at head."""
    settings = get_settings()
    results: list[tuple[str, bool, str]] = []
    results.append(("data directory", settings.data_dir.is_dir(), str(settings.data_dir)))
    results.append(("node key", (settings.keys_dir / NODE_KEY_FILE).is_file(), str(settings.keys_dir)))
    htmx = settings.assets_dir / "htmx.org" / "dist" / "htmx.min.js"
    results.append(("front-end assets", htmx.is_file(), str(settings.assets_dir)))

    async def db_state() -> tuple[bool, str, str | None]:
        engine = make_engine(settings.db_url)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                current = await conn.run_sync(migrate.current_revision)
            return True, engine.url.render_as_string(hide_password=True), current
        except (OSError, SQLAlchemyError) as exc:  # refused, unknown host, bad credentials, no such database
            return False, f"{engine.url.render_as_string(hide_password=True)}: {exc}", None
        finally:
            await engine.dispose()

    reachable, where, current = run(db_state())
    results.append(("database reachable", reachable, where))
    head = migrate.head_revision(settings.db_url)
    results.append(("migrations at head", reachable and current == head, f"current={current} head={head}"))

    table = Table("check", "ok", "detail")
    for name, ok, detail in results:
        table.add_row(name, "[green]yes[/]" if ok else "[red]NO[/]", detail)
    console.print(table)
    if not all(ok for _n, ok, _d in results):
        raise typer.Exit(1)


@audit_app.command("verify")
def audit_verify(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Verify the whole chain; exit 1 naming the first bad record if anything was altered."""

    async def go(rt: Runtime) -> audit_chain.VerifyResult:
        assert rt.db.engine is not None
        async with rt.db.engine.connect() as conn:
            return await audit_chain.verify(conn, key=rt.node_key)

    result: audit_chain.VerifyResult = run_with_runtime(go)
    if as_json:
        console.print_json(json.dumps(result.__dict__))
    elif result.ok:
        console.print(
            f"[green]audit chain intact[/]: {result.records} records, {result.checkpoints} signed checkpoints"
        )
    else:
        err.print(f"[red]audit chain broken at record {result.first_bad_seq}[/]: {result.reason}")
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign a checkpoint over the current head of the chain now."""

    async def go(rt: Runtime) -> int | None:
        async with rt.db.uow() as uow:
            seq = await audit_chain.checkpoint_now(
                uow.session, key=rt.node_key, node=rt.settings.node_name, ts=clock.now()
            )
            await uow.commit()
        return seq

    seq = run_with_runtime(go)
    console.print("chain is empty" if seq is None else f"checkpoint signed at record {seq}")


@outbox_app.command("run")
def outbox_run(once: Annotated[bool, typer.Option(help="Deliver what is due, then exit")] = False) -> None:
    """Deliver outbox events to their consumers (a separate worker, instead of in-process)."""

    async def go(rt: Runtime) -> None:
        domain_modules("events")  # importing a domain's events module registers its consumers
        if once:
            n = await rt.dispatcher.run_once()
            console.print(f"delivered {n}")
            return
        stop = asyncio.Event()
        await rt.dispatcher.run_forever(stop)

    run_with_runtime(go)


@outbox_app.command("status")
def outbox_status() -> None:
    """Count outbox messages by status."""

    async def go(rt: Runtime) -> list[Any]:
        async with rt.db.uow(readonly=True) as uow:
            return list(
                (
                    await uow.session.execute(
                        text("SELECT status, count(*) FROM outbox_messages GROUP BY status")
                    )
                ).all()
            )

    rows = run_with_runtime(go)
    table = Table("status", "messages")
    for status, n in rows:
        table.add_row(status, str(n))
    console.print(table)
