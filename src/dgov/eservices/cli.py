"""`dgov eservices …` — the catalogue from the command line (a public contract: keep stable).

`dgov eservices list --json` prints a JSON array, one object per procedure, with exactly these keys:
id, code, name {vi, en}, agency {member, level, code}, field, level, fee, deadline_days, process,
branches [{key, procedure, agency}], documents [ids], legal_basis [refs], typed_fields (a count).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from dgov.clisupport import console, print_json
from dgov.eservices import catalogue, workflow_cli

app = typer.Typer(
    help="Online public services: the catalogue, dossiers and their workflows.", no_args_is_help=True
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


@app.command("list")
def list_procedures(
    as_json: JsonOpt = False,
    field: Annotated[str, typer.Option("--field", help="Only this field (e.g. civil_status)")] = "",
    agency: Annotated[
        str, typer.Option("--agency", help="Only procedures handled by this member (e.g. BTP)")
    ] = "",
    q: Annotated[str, typer.Option("--search", help="Words of the name or the code")] = "",
) -> None:
    """The procedures of the catalogue."""
    found = catalogue.search(q, field_name=field, agency=agency)
    if as_json:
        print_json([catalogue.as_json(p) for p in found])
        return
    table = Table("id", "code", "name", "agency", "level", "days", "typed")
    for p in found:
        table.add_row(
            p.id,
            p.code,
            p.name("vi"),
            p.agency["member"],
            p.level,
            str(p.deadline_days),
            str(len(catalogue.typed_fields(p))),
        )
    console.print(table)


@app.command("show")
def show_procedure(procedure_id: str, as_json: JsonOpt = False) -> None:
    """One procedure: its summary, or with --json the whole procedure file."""
    proc = catalogue.procedure(procedure_id)
    if as_json:
        print_json(proc.raw)
        return
    summary = catalogue.as_json(proc)
    for key, value in summary.items():
        console.print(f"[bold]{key}[/bold]: {value}")


workflow_cli.register(app)
