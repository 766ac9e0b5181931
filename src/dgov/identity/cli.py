"""`dgov identity …` — accounts and clients from the command line (a public contract: keep stable)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from dgov.clisupport import console, run_with_runtime
from dgov.identity import service
from dgov.identity.authz import SYSTEM
from dgov.identity.context import IdentityContext
from dgov.web.runtime import Runtime

app = typer.Typer(help="Accounts, officials and OAuth/OIDC clients.", no_args_is_help=True)


def context(rt: Runtime) -> IdentityContext:
    return IdentityContext(db=rt.db, secret=rt.secret, issuer=rt.settings.issuer)


@app.command("add-citizen")
def add_citizen(
    id_number: Annotated[str, typer.Option("--id-number", help="12-digit personal identification number")],
    full_name: Annotated[str, typer.Option("--full-name")],
    birth_date: Annotated[str, typer.Option("--birth-date", help="YYYY-MM-DD")],
    sex: Annotated[str, typer.Option("--sex", help="M or F")],
    password: Annotated[str, typer.Option("--password")],
    totp_secret: Annotated[str | None, typer.Option("--totp-secret", help="Base32 TOTP seed")] = None,
    email: Annotated[str | None, typer.Option("--email")] = None,
    phone: Annotated[str | None, typer.Option("--phone")] = None,
) -> None:
    """Create an active citizen account."""
    try:
        born = date.fromisoformat(birth_date)
    except ValueError:
        raise typer.BadParameter("use YYYY-MM-DD", param_hint="--birth-date") from None

    async def go(rt: Runtime) -> None:
        account = await service.add_citizen(
            context(rt),
            SYSTEM,
            id_number=id_number,
            full_name=full_name,
            birth_date=born,
            sex=sex.upper(),
            password=password,
            totp_secret=totp_secret,
            email=email,
            phone=phone,
        )
        console.print(f"citizen account {account.id} created")

    run_with_runtime(go)


@app.command("add-official")
def add_official(
    username: Annotated[str, typer.Option("--username")],
    agency: Annotated[str, typer.Option("--agency", help="Agency code, e.g. BTP")],
    role: Annotated[str, typer.Option("--role", help="e.g. civil_status_officer, operator")],
    unit: Annotated[str, typer.Option("--unit", help="Commune code (5 digits), province (2) or *")],
    password: Annotated[str, typer.Option("--password")],
    totp_secret: Annotated[str | None, typer.Option("--totp-secret", help="Base32 TOTP seed")] = None,
    full_name: Annotated[str | None, typer.Option("--full-name")] = None,
) -> None:
    """Create an official (or operator) account with one role in one agency and unit."""

    async def go(rt: Runtime) -> None:
        account = await service.add_official(
            context(rt),
            SYSTEM,
            username=username,
            agency=agency,
            role=role,
            unit=unit,
            password=password,
            full_name=full_name,
            totp_secret=totp_secret,
        )
        console.print(f"official account {account.id} created")

    run_with_runtime(go)
