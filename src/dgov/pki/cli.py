"""`dgov pki …` — the node's PKI from the command line (`init`, `export-root`, `revoke`: a public contract).

The command line acts as the operator at the machine (`system:cli`); every change is audited.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dgov.clisupport import console, print_json, run_with_runtime
from dgov.pki import material, service
from dgov.pki.agencies import agencies
from dgov.pki.service import REASONS, CertInfo
from dgov.web.runtime import Runtime

app = typer.Typer(
    help="PKI: CAs, agency signing certificates, revocation, CRL/OCSP/TSA.", no_args_is_help=True
)

ACTOR = "system:cli"
AgencyOpt = Annotated[str, typer.Option("--agency", help="Agency code, e.g. BTP (see `dgov pki agencies`)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _show(title: str, certs: list[CertInfo]) -> None:
    table = Table("kind", "name", "serial", "status", "not after", "common name", title=title)
    for c in certs:
        colour = {"valid": "green", "revoked": "red"}.get(c.status, "yellow")
        status = f"[{colour}]{c.status}[/]" + (f" ({c.revocation_reason})" if c.revocation_reason else "")
        table.add_row(c.kind, c.name, c.serial, status, c.not_after.date().isoformat(), c.common_name)
    console.print(table)


@app.command()
def init(as_json: JsonOpt = False) -> None:
    """Create the root CA, issuing CA, TSA, OCSP responder and agency certificates (idempotent)."""

    async def go(rt: Runtime) -> list[CertInfo]:
        return await service.init_pki(rt.settings, rt.db, actor=ACTOR)

    created = run_with_runtime(go)
    if as_json:
        print_json({"created": [c.as_json() for c in created]})
    elif created:
        _show("created", created)
    else:
        console.print("PKI already initialised: nothing to do")


@app.command("agencies")
def agencies_cmd(as_json: JsonOpt = False) -> None:
    """The agencies this node signs for."""
    rows = [{"code": a.code, "name": {"vi": a.name_vi, "en": a.name_en}} for a in agencies()]
    if as_json:
        print_json(rows)
        return
    table = Table("code", "name (vi)", "name (en)")
    for a in agencies():
        table.add_row(a.code, a.name_vi, a.name_en)
    console.print(table)


@app.command()
def issue(agency: AgencyOpt, as_json: JsonOpt = False) -> None:
    """Issue a new signing certificate for an agency (its older ones stay valid until revoked)."""

    async def go(rt: Runtime) -> CertInfo:
        return await service.issue_agency_certificate(rt.settings, rt.db, agency, actor=ACTOR)

    c = run_with_runtime(go)
    print_json(c.as_json()) if as_json else _show("issued", [c])


@app.command()
def revoke(
    agency: AgencyOpt,
    reason: Annotated[str, typer.Option(help=f"RFC 5280 reason: {', '.join(REASONS)}")] = "unspecified",
    serial: Annotated[
        str | None, typer.Option(help="Revoke this certificate (hex serial), not the current one")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke the agency's current signing certificate: OCSP and the CRL report it at once."""

    async def go(rt: Runtime) -> CertInfo:
        return await service.revoke_agency_certificate(
            rt.settings, rt.db, agency, reason=reason, serial=serial, actor=ACTOR
        )

    c = run_with_runtime(go)
    print_json(c.as_json()) if as_json else _show("revoked", [c])


@app.command()
def rotate(agency: AgencyOpt, as_json: JsonOpt = False) -> None:
    """New key and certificate for an agency; the previous one is revoked as `superseded`."""

    async def go(rt: Runtime) -> tuple[CertInfo, CertInfo | None]:
        return await service.rotate_agency_certificate(rt.settings, rt.db, agency, actor=ACTOR)

    new, old = run_with_runtime(go)
    if as_json:
        print_json({"new": new.as_json(), "superseded": old.as_json() if old else None})
    else:
        _show("rotated", [c for c in (new, old) if c is not None])


@app.command("export-root")
def export_root(
    file: Annotated[Path, typer.Argument(help="Where to write the root certificate (PEM)")],
) -> None:
    """Write the root CA certificate (PEM): what validators must trust, and nothing else."""

    async def go(rt: Runtime) -> bytes:
        return await material.root_certificate_pem(rt.settings, rt.db)

    pem = run_with_runtime(go)
    file.write_bytes(pem)
    console.print(f"root certificate written to {file}")


@app.command("list")
def list_cmd(
    as_json: JsonOpt = False,
    agency: Annotated[str | None, typer.Option("--agency", help="Only this agency's certificates")] = None,
) -> None:
    """Every certificate the node's CAs issued, with its status."""

    async def go(rt: Runtime) -> list[CertInfo]:
        if agency:
            return await service.list_certificates(rt.db, kind="agency", name=agency)
        return await service.list_certificates(rt.db)

    certs = run_with_runtime(go)
    print_json([c.as_json() for c in certs]) if as_json else _show("certificates", certs)
