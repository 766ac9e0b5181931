"""`dgov exchange …` — the information mediator from the command line (a public contract: keep stable).

Contract for automation: `add-member`, `add-subsystem` (prints the key id alone on its last line),
`grant`, `services --json`, `node-key`, `log verify`. The command line acts as the system (an operator at
the machine); every directory change is audited.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from dgov.clisupport import console, err, print_json, run_with_runtime
from dgov.exchange import (
    directory,
    directory_rights,
    directory_services,
    federation,
    messagelog,
    pubsub_cli,
    registry_services,
)
from dgov.exchange.client import call_service, register_node_subsystem
from dgov.identity import SYSTEM
from dgov.kernel import clock
from dgov.kernel.errors import FieldError, ValidationFailed
from dgov.web.runtime import Runtime

app = typer.Typer(help="Information mediator: directory, gateway, message log.", no_args_is_help=True)
log_app = typer.Typer(help="The message log (hash chain with signed checkpoints).", no_args_is_help=True)
app.add_typer(log_app, name="log")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _instance(rt: Runtime, given: str | None) -> str:
    return given or rt.settings.exchange_instance


@app.command("add-member")
def add_member(
    member_class: Annotated[str, typer.Option("--class", help="GOV, COM or ORG")],
    code: Annotated[str, typer.Option("--code", help="Member code, e.g. BCA")],
    name: Annotated[str, typer.Option("--name", help="The organisation's name")],
    instance: Annotated[str | None, typer.Option(help="Instance (default DGOV_EXCHANGE_INSTANCE)")] = None,
) -> None:
    """Add a member (an agency or organisation) to the directory."""

    async def go(rt: Runtime) -> str:
        mid = await directory.add_member(
            rt.db, SYSTEM, instance=_instance(rt, instance), member_class=member_class, code=code, name=name
        )
        return str(mid)

    console.print(run_with_runtime(go))


@app.command("add-subsystem")
def add_subsystem(
    member: Annotated[str, typer.Option("--member", help="GOV/CODE (or INSTANCE/GOV/CODE)")],
    code: Annotated[str, typer.Option("--code", help="Subsystem code")],
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="Ed25519 or P-256 public key PEM")
    ] = None,
    server_url: Annotated[str, typer.Option(help="Base URL of the node serving it (federation)")] = "",
    generate_key: Annotated[bool, typer.Option(help="Let this node make and hold the key")] = False,
) -> None:
    """Register a subsystem with its signing key; prints the key id (RFC 7638 thumbprint) on its last line."""
    if (public_key is None) == (not generate_key):
        raise typer.BadParameter("give --public-key FILE or --generate-key")
    pem = public_key.read_text() if public_key is not None else ""

    async def go(rt: Runtime) -> tuple[str, str]:
        if generate_key:
            kid = await register_node_subsystem(rt, SYSTEM, member=member, code=code)
            return f"{_instance(rt, None)}/{member}/{code}", kid
        new = await directory.add_subsystem(
            rt.db,
            SYSTEM,
            member=member,
            code=code,
            public_key_pem=pem,
            instance=_instance(rt, None),
            server_url=server_url,
        )
        return str(new.address), new.key_id

    address, kid = run_with_runtime(go)
    console.print(f"subsystem {escape(address)}, key id:")
    print(kid)


@app.command("revoke-key")
def revoke_key(key_id: str) -> None:
    """Revoke a subsystem key: requests signed with it are refused (401)."""
    run_with_runtime(lambda rt: directory.revoke_key(rt.db, SYSTEM, key_id))
    console.print(f"key {escape(key_id)} revoked")


@app.command("set-member-status")
def set_member_status(
    member: Annotated[str, typer.Argument(help="GOV/CODE")],
    status: Annotated[str, typer.Argument(help="active (approve) or revoked")],
) -> None:
    """Approve a pending member (active) or suspend one (revoked: its calls get 401)."""
    if status not in ("active", "revoked"):
        raise typer.BadParameter("active or revoked")

    async def go(rt: Runtime) -> None:
        await directory.set_member_status(rt.db, SYSTEM, member, status, instance=_instance(rt, None))

    run_with_runtime(go)
    console.print(f"{escape(member)}: {status}")


@app.command("approve")
def approve(subsystem: Annotated[str, typer.Argument(help="INSTANCE/GOV/CODE/SUB")]) -> None:
    """Approve a pending registration (the subsystem, and its member if that is new)."""
    run_with_runtime(lambda rt: directory.approve(rt.db, SYSTEM, subsystem))
    console.print(f"{escape(subsystem)}: active")


@app.command("grant")
def grant(
    client: Annotated[str, typer.Option("--client", help="INSTANCE/GOV/CODE/SUB")],
    service: Annotated[str, typer.Option("--service", help="INSTANCE/GOV/MEMBER/SUB/SERVICE")],
    operation: Annotated[str, typer.Option(help="Only this operation id (default: all)")] = "",
) -> None:
    """Give a client subsystem the right to call a service (or one of its operations)."""
    run_with_runtime(
        lambda rt: directory_rights.grant(rt.db, SYSTEM, client=client, service=service, operation=operation)
    )
    console.print(f"{escape(client)} → {escape(service)}{' ' + operation if operation else ''}")


@app.command("revoke")
def revoke(
    client: Annotated[str, typer.Option("--client")],
    service: Annotated[str, typer.Option("--service")],
    operation: Annotated[str, typer.Option()] = "",
) -> None:
    """Withdraw an access right."""
    run_with_runtime(
        lambda rt: directory_rights.revoke_right(
            rt.db, SYSTEM, client=client, service=service, operation=operation
        )
    )
    console.print("right withdrawn")


@app.command("services")
def services(as_json: JsonOpt = False) -> None:
    """Published services with their addresses and each operation's method and path template."""
    found = run_with_runtime(lambda rt: directory_services.services(rt.db))
    if as_json:
        print(json.dumps(found, ensure_ascii=False, indent=2))
        return
    table = Table("service", "operations", "title")
    for s in found:
        ops = "\n".join(f"{o['method']} {o['path']}" for o in s["operations"])
        table.add_row(escape(s["address"]), escape(ops), escape(s["title"]))
    console.print(table)


@app.command("members")
def members(as_json: JsonOpt = False) -> None:
    """Members, their subsystems and keys."""
    found = run_with_runtime(lambda rt: directory.members(rt.db))
    if as_json:
        for m in found:
            for s in m["subsystems"]:
                for k in s["keys"]:
                    k.pop("public_key", None)
        print_json(found)
        return
    table = Table("member", "name", "status", "subsystems (key ids)")
    for m in found:
        subs = "\n".join(
            f"{s['code']} [{s['status']}] "
            + ", ".join(f"{k['key_id'][:12]}…({k['status']})" for k in s["keys"])
            for s in m["subsystems"]
        )
        table.add_row(escape(m["address"]), escape(m["name"]), m["status"], escape(subs))
    console.print(table)


app.command("list-members", help="Same as `members`.")(members)


@app.command("rights")
def rights(as_json: JsonOpt = False) -> None:
    """Access rights: which client may call which service."""
    found = run_with_runtime(lambda rt: directory_rights.rights(rt.db))
    if as_json:
        print_json(found)
        return
    table = Table("client", "service", "operation")
    for r in found:
        table.add_row(escape(r["client"]), escape(r["service"]), r["operation"] or "*")
    console.print(table)


@app.command("publish-registries")
def publish_registries() -> None:
    """Publish the base registries' read services for the owning members present in the directory."""
    done = run_with_runtime(
        lambda rt: registry_services.publish_all(rt.db, SYSTEM, instance=rt.settings.exchange_instance)
    )
    for s in done:
        console.print(escape(s))


@app.command("node-key")
def node_key() -> None:
    """Print the public key (PEM) this node signs gateway responses with."""

    async def go(rt: Runtime) -> str:
        return rt.node_key.public_pem()

    print(run_with_runtime(go), end="")


@app.command("sync")
def sync(
    central_key: Annotated[Path, typer.Option("--central-key", help="The central node's public key PEM")],
    central_url: Annotated[str | None, typer.Option(help="Default: DGOV_EXCHANGE_CENTRAL_URL")] = None,
) -> None:
    """Fetch the directory from the central node, check its signature, and apply it here."""

    async def go(rt: Runtime) -> dict[str, int]:
        url = central_url or rt.settings.exchange_central_url
        if not url:
            raise ValidationFailed(errors=[FieldError(("central_url",), "This field is required")])
        doc = await federation.fetch_directory(url, central_key.read_text())
        return await federation.apply_document(rt.db, SYSTEM, doc)

    counts = run_with_runtime(go)
    console.print(", ".join(f"{k}: {v}" for k, v in counts.items()))


@app.command("call")
def call(
    client: Annotated[str, typer.Option("--client", help="A subsystem whose key this node holds")],
    service: Annotated[str, typer.Option("--service")],
    path: Annotated[str, typer.Option("--path")] = "/",
    purpose: Annotated[str, typer.Option("--purpose")] = "",
    dossier: Annotated[str | None, typer.Option("--dossier")] = None,
) -> None:
    """Call a service through this node's gateway (in-process), as one of the node's own subsystems."""

    async def go(rt: Runtime) -> Any:
        r = await call_service(
            rt, client=client, service=service, path=path, purpose=purpose, dossier=dossier
        )
        return {"status": r.status, "message_id": r.message_id, "verified": r.verified, "body": r.json()}

    print_json(run_with_runtime(go))


@log_app.command("verify")
def log_verify(as_json: JsonOpt = False) -> None:
    """Verify the message log; exit 1 naming the first bad record if anything was altered."""

    async def go(rt: Runtime) -> messagelog.VerifyResult:
        assert rt.db.engine is not None
        async with rt.db.engine.connect() as conn:
            return await messagelog.verify(conn, key=rt.node_key)

    result = run_with_runtime(go)
    if as_json:
        print_json(result.__dict__)
    elif result.ok:
        console.print(
            f"[green]message log intact[/]: {result.records} records, {result.checkpoints} signed checkpoints"
        )
    else:
        err.print(
            f"[red]message log broken at record {result.first_bad_seq}[/]: {escape(result.reason or '')}"
        )
    if not result.ok:
        raise typer.Exit(1)


@log_app.command("checkpoint")
def log_checkpoint() -> None:
    """Sign a checkpoint over the current head of the message log now."""

    async def go(rt: Runtime) -> int | None:
        async with rt.db.uow() as uow:
            seq = await messagelog.checkpoint_now(
                uow.session, key=rt.node_key, node=rt.settings.node_name, ts=clock.now()
            )
            await uow.commit()
        return seq

    seq = run_with_runtime(go)
    console.print("log is empty" if seq is None else f"checkpoint signed at record {seq}")


@log_app.command("export")
def log_export(file: Annotated[Path, typer.Argument(help="Archive file to write (JSONL)")]) -> None:
    """Write the whole message log with its signed checkpoints to FILE (one JSON object per line)."""

    async def go(rt: Runtime) -> int:
        async with rt.db.uow() as uow:  # the archive ends on a signed checkpoint
            await messagelog.checkpoint_now(
                uow.session, key=rt.node_key, node=rt.settings.node_name, ts=clock.now()
            )
            await uow.commit()
        assert rt.db.engine is not None
        async with rt.db.engine.connect() as conn:
            return await messagelog.export_file(conn, file)

    n = run_with_runtime(go)
    console.print(f"{n} records written to {escape(str(file))}")


pubsub_cli.register(app)
