"""`dgov eservices deploy|processes|tick|queue`: the operator's side of the workflow engine."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dgov.clisupport import print_json, run_with_runtime
from dgov.eservices import timers, workflow
from dgov.eservices.workflow_bpmn import write_all
from dgov.web.runtime import Runtime

console = Console()


def deploy(
    names: Annotated[
        list[str] | None, typer.Argument(help="Process names (default: every file in bpmn/)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Deploy the repository's BPMN files (a changed file becomes a new version; running dossiers
    keep theirs)."""

    async def go(rt: Runtime) -> list[workflow.Deployed]:
        async with rt.db.uow() as uow:
            done = await workflow.deploy_repo(uow, actor="operator:cli", names=names)
            await uow.commit()
        return done

    done = run_with_runtime(go)
    if as_json:
        print_json([d.__dict__ for d in done])
        return
    for d in done:
        console.print(f"{d.name} v{d.version} {d.sha256[:12]} {'[green]new[/]' if d.new else 'unchanged'}")


def processes(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Deployed process versions."""

    async def go(rt: Runtime) -> list[dict[str, object]]:
        async with rt.db.uow(readonly=True) as uow:
            rows = await workflow.definitions(uow)
        return [
            {
                "name": r.name,
                "version": r.version,
                "sha256": r.sha256,
                "deployed_at": r.deployed_at.isoformat(),
                "deployed_by": r.deployed_by,
            }
            for r in rows
        ]

    rows = run_with_runtime(go)
    if as_json:
        print_json(rows)
        return
    table = Table("name", "version", "sha256", "deployed at", "by")
    for r in rows:
        table.add_row(
            str(r["name"]),
            str(r["version"]),
            str(r["sha256"])[:12],
            str(r["deployed_at"]),
            str(r["deployed_by"]),
        )
    console.print(table)


def tick() -> None:
    """Fire the SLA timers that are due and run waiting service tasks, once."""

    async def go(rt: Runtime) -> timers.TickResult:
        return await timers.tick(rt.db, rt)

    r = run_with_runtime(go)
    console.print(f"timers fired: {r.timers_fired}, service tasks run: {r.service_tasks_run}")


def bpmn_write() -> None:
    """(Developers) regenerate the BPMN files under src/dgov/eservices/bpmn/ from workflow_bpmn.py."""
    for p in write_all():
        console.print(str(p))


def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy)
    app.command("processes")(processes)
    app.command("tick")(tick)
    app.command("bpmn-write")(bpmn_write)
