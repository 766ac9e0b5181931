"""`dgov registries …` — the registries from the command line (a public contract: keep stable).

The command line acts as the system, for an operator at the machine: it needs no login, but what it
reads of a person is still a read of personal data, so `get`, `search` and `export` write the person's
access-log entries (channel "cli", accessor "system:cli") with the purpose given by `--purpose`.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dgov.clisupport import console, err, print_json, run_with_runtime
from dgov.identity import SYSTEM
from dgov.kernel import clock
from dgov.kernel.errors import NotFound
from dgov.registries import access, exports, imports, service
from dgov.registries.definitions import catalogue
from dgov.registries.definitions import registry as definition
from dgov.registries.engine import Provenance, RecordView
from dgov.registries.service import RegistriesContext
from dgov.web.runtime import Runtime

app = typer.Typer(
    help="Base registries: records, search, import/export, the access log.", no_args_is_help=True
)

CLI_ACCESSOR = ("system", "system:cli")
CLI_ACCESSOR_NAME = "Quản trị hệ thống (dòng lệnh dgov)"
CLI_CHANNEL = "cli"
DEFAULT_PURPOSE = "operator command line"

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]
PurposeOpt = Annotated[str, typer.Option("--purpose", help="Why you read this data (shown to the person)")]


def _ctx(rt: Runtime) -> RegistriesContext:
    return RegistriesContext(db=rt.db)


async def _log_reads(rt: Runtime, reads: list[access.Access], purpose: str) -> None:
    """The operator's reads, committed before anything is shown."""
    if not reads:
        return
    async with rt.db.uow() as uow:
        rows = access.rows_for(
            SYSTEM,
            reads,
            purpose=purpose,
            now=clock.now(),
            channel=CLI_CHANNEL,
            accessor_kind=CLI_ACCESSOR[0],
            accessor=CLI_ACCESSOR[1],
            accessor_name=CLI_ACCESSOR_NAME,
        )
        await access.insert_rows(uow, rows)
        await uow.commit()


def _record_table(view: RecordView) -> Table:
    table = Table("field", "value", title=f"{view.registry} {view.key} (v{view.version})")
    for name, value in view.data.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        table.add_row(name, escape(shown))
    return table


@app.command("list")
def list_registries(as_json: JsonOpt = False) -> None:
    """The registries this node carries and their schema versions."""
    rows = [
        {
            "registry": name,
            "versions": sorted(versions),
            "latest": max(versions),
            "title": versions[max(versions)].meta.get("title", {}),
            "owner": versions[max(versions)].owner,
            "key": versions[max(versions)].key_field,
        }
        for name, versions in catalogue().items()
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("registry", "versions", "owner", "key", "title")
    for r in rows:
        table.add_row(
            r["registry"], ", ".join(map(str, r["versions"])), r["owner"], r["key"], r["title"]["vi"]
        )
    console.print(table)


@app.command("get")
def get(
    registry: Annotated[str, typer.Argument(help="e.g. population")],
    key: Annotated[str, typer.Argument(help="The record's key, e.g. a personal ID number")],
    as_json: JsonOpt = False,
    purpose: PurposeOpt = DEFAULT_PURPOSE,
    as_of: Annotated[
        datetime | None, typer.Option("--as-of", help="Read the record as it was at this instant (ISO 8601)")
    ] = None,
) -> None:
    """Print one record (exit 1 if there is none)."""

    async def go(rt: Runtime) -> RecordView | None:
        try:
            view = await service.get(_ctx(rt), SYSTEM, registry, key, purpose=purpose, as_of=_aware(as_of))
        except NotFound:
            return None
        if view.subject_id:
            await _log_reads(
                rt, [access.Access(view.subject_id, view.registry, view.key, sorted(view.data))], purpose
            )
        return view

    view = run_with_runtime(go)
    if view is None:
        err.print(f"no record {escape(key)} in {escape(registry)}")
        raise typer.Exit(1)
    if as_json:
        print_json(view.data)
    else:
        console.print(_record_table(view))


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.astimezone()  # a naive instant on the command line is the operator's local time
    return moment


@app.command("search")
def search(
    registry: Annotated[str, typer.Argument(help="e.g. population")],
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="Full name, any case, with or without diacritics; end with * for a prefix"
        ),
    ] = None,
    key: Annotated[str | None, typer.Option("--key", help="Exact key")] = None,
    birth_year: Annotated[int | None, typer.Option("--birth-year")] = None,
    province: Annotated[str | None, typer.Option("--province", help="Province code (2 digits)")] = None,
    commune: Annotated[str | None, typer.Option("--commune", help="Commune code (5 digits)")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100)] = 20,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    as_json: JsonOpt = False,
    purpose: PurposeOpt = DEFAULT_PURPOSE,
) -> None:
    """Find records by name (folded) and birth year / place, or by key."""

    async def go(rt: Runtime) -> list[RecordView]:
        found = await service.search(
            _ctx(rt),
            SYSTEM,
            registry,
            purpose=purpose,
            key=key,
            name=name,
            birth_year=birth_year,
            province=province,
            commune=commune,
            limit=limit,
            offset=offset,
        )
        shown = service.SEARCH_SUMMARY
        reads = [
            access.Access(v.subject_id, v.registry, v.key, [f for f in shown if f in v.data])
            for v in found
            if v.subject_id
        ]
        await _log_reads(rt, reads, purpose)
        return found

    found = run_with_runtime(go)
    if as_json:
        print_json([v.data for v in found])
        return
    reg = definition(registry)
    index = reg.meta.get("index", {})
    table = Table("key", "name", "born", "province")
    for v in found:
        table.add_row(
            v.key,
            escape(str(reg.get(v.data, index.get("name")) or "")),
            str(reg.get(v.data, index.get("birth_date")) or ""),
            str(reg.get(v.data, index.get("province")) or ""),
        )
    console.print(table)


@app.command("import")
def import_cmd(
    registry: Annotated[str, typer.Argument(help="e.g. population")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or jsonl (default: from the extension)")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why these records are loaded")] = None,
    legal_basis: Annotated[str | None, typer.Option("--legal-basis")] = None,
    dossier: Annotated[str | None, typer.Option("--dossier", help="Dossier code behind the change")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Load a CSV or JSON Lines file: every row is checked first; one bad row and nothing is written."""
    prov = Provenance(
        actor=CLI_ACCESSOR[1],
        reason=reason or f"import of {file.name}",
        legal_basis=legal_basis,
        dossier_code=dossier,
    )

    async def go(rt: Runtime) -> imports.ImportReport:
        return await imports.import_file(
            _ctx(rt), SYSTEM, registry, file, fmt=imports.format_of(file, fmt), prov=prov
        )

    report = run_with_runtime(go)
    if as_json:
        print_json(report.as_dict())
    elif report.ok:
        console.print(
            f"[green]imported[/] {report.written} records into {report.registry} v{report.version}"
            f" (sha256 {report.digest[:16]}…)"
        )
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report: imports.ImportReport) -> None:
    err.print(
        f"[red]nothing imported[/]: {report.bad_rows} of {report.rows} rows of {escape(report.file)} "
        f"are not valid ({report.errors_total} problems)"
    )
    table = Table("row", "field", "message")
    for e in report.errors:
        table.add_row(str(e.row), escape(e.field), escape(e.message))
    console.print(table)
    if report.errors_total > len(report.errors):
        err.print(f"… and {report.errors_total - len(report.errors)} more")


@app.command("export")
def export_cmd(
    registry: Annotated[str, typer.Argument(help="e.g. population")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
    out: Annotated[
        Path | None, typer.Option("--out", help="Write to this file (default: standard output)")
    ] = None,
    purpose: PurposeOpt = DEFAULT_PURPOSE,
) -> None:
    """Write every current record of a registry as JSON Lines or CSV (the shapes `import` reads)."""
    if fmt not in ("jsonl", "csv"):
        raise typer.BadParameter("jsonl or csv", param_hint="--format")

    async def go(rt: Runtime) -> None:
        chunks = exports.export_records(
            _ctx(rt),
            SYSTEM,
            registry,
            purpose=purpose,
            fmt="csv" if fmt == "csv" else "jsonl",
            channel=CLI_CHANNEL,
            log_as=CLI_ACCESSOR,
        )
        if out is None:
            async for chunk in chunks:
                sys.stdout.write(chunk)
            sys.stdout.flush()
            return
        with out.open("w", encoding="utf-8", newline="") as f:
            async for chunk in chunks:
                f.write(chunk)

    run_with_runtime(go)


@app.command("access-log")
def access_log(
    id_number: Annotated[str, typer.Argument(help="The person's 12-digit ID number")],
    as_json: JsonOpt = False,
) -> None:
    """Who read this person's data: when, which fields, why, through which channel."""

    async def go(rt: Runtime) -> list[dict[str, Any]]:
        return await service.access_log(_ctx(rt), SYSTEM, id_number)

    entries = run_with_runtime(go)
    if as_json:
        print_json(entries)
        return
    table = Table("at", "who", "registry", "fields", "purpose", "channel")
    for e in entries:
        table.add_row(
            e["at"],
            escape(e["accessor_name"] or e["accessor"]),
            e["registry"],
            escape(", ".join(e["fields"])),
            escape(e["purpose"]),
            e["channel"],
        )
    console.print(table)


@app.command("generate")
def generate_cmd(
    people: Annotated[int, typer.Option("--people", min=1, help="How many people to generate")],
    seed: Annotated[int, typer.Option("--seed", help="The same seed gives the same population")] = 1,
) -> None:
    """Generate a synthetic but believable population (families, households, civil status, insurance,
    diplomas, businesses, land)."""
    from dgov.registries.generate import generate  # the generator and its name lists load only for it

    async def go(rt: Runtime) -> Any:
        with Progress(
            TextColumn("[bold]people"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
        ) as bar:
            task = bar.add_task("generate", total=people)

            def progress(done: int, *_rest: Any, **_kw: Any) -> None:
                bar.update(task, completed=done)

            return await generate(rt.db, people=people, seed=seed, progress=progress)

    stats = run_with_runtime(go)
    seconds = float(getattr(stats, "seconds", 0.0)) or 1e-9
    made = int(getattr(stats, "people", people))
    console.print(f"[green]generated[/] {made} people in {seconds:.1f} s ({made / seconds:,.0f} people/s)")
