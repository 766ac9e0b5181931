"""`dgov documents …` — templates, issuing and verifying signed documents (a public contract: keep stable).

    dgov documents templates --json
    dgov documents issue --template birth-certificate --data FILE.json [--agency CODE] --out FILE.pdf
    dgov documents verify FILE.pdf --json       (exit 0 valid, 1 invalid, 2 bad input)

The command line acts as the system (an operator at the machine): an issued document is registered on
the node (so its QR link works) and put into the wallets named by `--holder`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dgov.clisupport import console, err, print_json, run_with_runtime
from dgov.documents import service
from dgov.documents.present import templates_json, verification_json
from dgov.documents.templates_catalog import catalog
from dgov.identity import SYSTEM
from dgov.kernel.errors import FieldError, ValidationFailed
from dgov.kernel.i18n import gettext as _
from dgov.web.runtime import Runtime

app = typer.Typer(help="Documents: templates, issuing signed PDFs, verification.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


@app.command("templates")
def templates_cmd(as_json: JsonOpt = False) -> None:
    """The document templates: name, fields and a complete example data object each."""
    if as_json:
        print_json(templates_json())
        return
    table = Table("name", "title", "agency", "fields")
    for t in catalog().values():
        table.add_row(t.name, t.title_in("vi"), t.agency, str(len(t.fields())))
    console.print(table)


@app.command("issue")
def issue_cmd(
    template_name: Annotated[str, typer.Option("--template", help="Template name (see `templates`)")],
    data_file: Annotated[Path, typer.Option("--data", help="JSON file with the document's data")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the signed PDF")],
    agency: Annotated[
        str | None, typer.Option("--agency", help="Issuing agency code (default: the template's)")
    ] = None,
    holder: Annotated[
        list[str] | None,
        typer.Option("--holder", help="Put it in this person's wallet (ID number); repeatable"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Render, sign (PAdES B-LT, node TSA) and register a document; write the PDF to --out."""
    try:
        data = json.loads(data_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        err.print(f"[red]{_('Cannot read the data file')}[/]: {exc}")
        raise typer.Exit(2) from None

    async def go(rt: Runtime) -> service.IssuedDocument:
        if not isinstance(data, dict):
            raise ValidationFailed(errors=[FieldError(("data",), "The document data must be a JSON object")])
        ctx = service.context(rt.settings, rt.db)
        return await service.store_issued(
            ctx, SYSTEM, template_name=template_name, data=data, holders=list(holder or []), agency=agency
        )

    issued = run_with_runtime(go)
    out.write_bytes(issued.pdf)
    doc = issued.document
    if as_json:
        print_json(
            {
                "code": doc.code,
                "template": doc.template,
                "agency": doc.agency,
                "sha256": doc.sha256,
                "size": doc.size,
                "out": str(out),
                "holders": list(issued.holders),
            }
        )
    else:
        console.print(f"{doc.code}  {doc.agency_name}  → {out} ({doc.size} bytes)")


@app.command("verify")
def verify_cmd(
    file: Annotated[Path, typer.Argument(help="The signed PDF")], as_json: JsonOpt = False
) -> None:
    """Verify a signed PDF against this node's PKI; exit 0 if valid, 1 if not."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        err.print(f"[red]{_('Cannot read the file')}[/]: {exc}")
        raise typer.Exit(2) from None

    async def go(rt: Runtime) -> service.Verification:
        return await service.verify(service.context(rt.settings, rt.db), data)

    v = run_with_runtime(go)
    out = verification_json(v)
    if as_json:
        print_json(out)
    else:
        console.print(("[green]" + _("Valid") if v.valid else "[red]" + _("Not valid")) + "[/]")
        for m in out["messages"]:
            console.print(f"  - {m}")
        if out["signature"]:
            console.print(f"  {out['signature']['agency']} · {out['signature']['signed_at']}")
    raise typer.Exit(0 if v.valid else 1)
