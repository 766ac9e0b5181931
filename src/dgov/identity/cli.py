"""`dgov identity …` — accounts and clients from the command line (a public contract: keep stable)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.markup import escape

from dgov.clisupport import console, print_json, run_with_runtime
from dgov.identity import clients, service
from dgov.identity.authz import SYSTEM
from dgov.identity.context import IdentityContext, node_context
from dgov.identity.oidc.keys import rotate_signing_key
from dgov.web.runtime import Runtime

app = typer.Typer(help="Accounts, officials and OAuth/OIDC clients.", no_args_is_help=True)


def context(rt: Runtime) -> IdentityContext:
    return node_context(rt.db, secret=rt.secret, issuer=rt.settings.issuer)


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


@app.command("add-client")
def add_client(
    client_id: Annotated[str, typer.Option("--client-id", help="3–100 letters, digits, . _ -")],
    scopes: Annotated[str, typer.Option("--scopes", help='Space-separated, e.g. "openid profile"')],
    redirect_uri: Annotated[
        list[str] | None, typer.Option("--redirect-uri", help="Repeat for several")
    ] = None,
    public: Annotated[bool, typer.Option("--public", help="No secret; PKCE is then mandatory")] = False,
    grant: Annotated[
        list[str] | None,
        typer.Option(
            "--grant", help="authorization_code (default), refresh_token, client_credentials; repeat"
        ),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Shown to people on the consent screen")] = None,
    post_logout_uri: Annotated[list[str] | None, typer.Option("--post-logout-uri")] = None,
    alg: Annotated[str, typer.Option("--alg", help="ID token algorithm: ES256 or RS256")] = "ES256",
    sector: Annotated[
        str | None, typer.Option("--sector", help="Pairwise subject sector (default: host)")
    ] = None,
) -> None:
    """Register an OAuth 2 / OIDC client. The secret is printed once, alone on the last line."""

    async def go(rt: Runtime) -> None:
        created = await clients.add_client(
            context(rt),
            SYSTEM,
            client_id=client_id,
            name=name or client_id,
            scopes=scopes.split(),
            redirect_uris=redirect_uri or [],
            grant_types=grant or ["authorization_code"],
            public=public,
            post_logout_redirect_uris=post_logout_uri or [],
            id_token_alg=alg,
            sector=sector,
        )
        console.print(f"client {created.client.client_id} registered (sector {created.client.sector})")
        if created.secret is None:
            console.print("public client: no secret, PKCE (S256) is mandatory")
        else:
            print(created.secret)  # plain print: no Rich wrapping, so scripts can take the last line

    run_with_runtime(go)


@app.command("list-clients")
def list_clients(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Registered clients (never their secrets)."""

    async def go(rt: Runtime) -> None:
        rows = await clients.list_clients(context(rt), SYSTEM)
        data = [
            {
                "client_id": c.client_id,
                "name": c.name,
                "public": c.public,
                "scopes": c.scopes.split(),
                "grant_types": c.grant_types,
                "redirect_uris": c.redirect_uris,
                "sector": c.sector,
                "disabled": c.disabled_at is not None,
            }
            for c in rows
        ]
        if as_json:
            print_json(data)
        else:
            for c in rows:
                console.print(escape(f"{c.client_id}  {c.name}  [{c.scopes}]"))

    run_with_runtime(go)


@app.command("rotate-key")
def rotate_key(alg: Annotated[str, typer.Option("--alg", help="ES256 or RS256")] = "ES256") -> None:
    """Start signing ID tokens with a new key; the old one stays in the JWKS until its tokens expire."""

    async def go(rt: Runtime) -> None:
        kid = await rotate_signing_key(context(rt), SYSTEM, alg)
        console.print(f"new {alg} signing key {kid}")

    run_with_runtime(go)
