"""`dgov` — the operator's command line. Each domain mounts its own sub-commands (`dgov <domain> …`).

Start-up is lazy: this module imports Typer and nothing of dgov's domains. The table below names each
sub-command, the module that defines it and its one-line help; the module is imported only when its
sub-command runs (or its own `--help` is asked for), so `dgov version` and `dgov --help` cost a Python
start and Typer, and `dgov documents verify` pays for pyHanko but not for WeasyPrint or FastAPI.
tests/cli/test_lazy_cli.py checks the table against the modules (names, help, every domain listed).
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any

import typer
from typer import _click as click  # Typer 0.29 vendors Click; its Group API is what TyperGroup builds on
from typer.core import TyperCommand, TyperGroup

from dgov import __version__
from dgov.kernel.files import private_umask


@dataclass(frozen=True)
class Lazy:
    """Where a sub-command lives: `module`'s Typer `app` (`command` names one command of it; without
    `command` the whole app is the sub-command group) and the help `dgov --help` shows for it."""

    module: str
    help: str
    command: str | None = None


NODE = "dgov.nodecli"
# In the order `dgov --help` lists them (the order they had when every module was imported eagerly).
COMMANDS: dict[str, Lazy] = {
    "migrate": Lazy(NODE, "Bring the database schema to REVISION (default: the newest).", "migrate"),
    "init": Lazy(
        NODE,
        "Create var/ (database, files, keys), migrate, and load demo data into an empty database.",
        "init",
    ),
    "serve": Lazy(NODE, "Serve the web application and APIs.", "serve"),
    "check": Lazy(
        NODE, "Check configuration, database reachability and that migrations are at head.", "check"
    ),
    "audit": Lazy(NODE, "The tamper-evident audit chain.", "audit"),
    "outbox": Lazy(NODE, "The transactional outbox.", "outbox"),
    "demo": Lazy(NODE, "Load the demo data set (accounts, registries, agencies…), or run a journey.", "demo"),
    "identity": Lazy("dgov.identity.cli", "Accounts, officials and OAuth/OIDC clients."),
    "registries": Lazy(
        "dgov.registries.cli", "Base registries: records, search, import/export, the access log."
    ),
    "exchange": Lazy("dgov.exchange.cli", "Information mediator: directory, gateway, message log."),
    "pki": Lazy("dgov.pki.cli", "PKI: CAs, agency signing certificates, revocation, CRL/OCSP/TSA."),
    "documents": Lazy("dgov.documents.cli", "Documents: templates, issuing signed PDFs, verification."),
    "eservices": Lazy(
        "dgov.eservices.cli", "Online public services: the catalogue, dossiers and their workflows."
    ),
}


def load(name: str, entry: Lazy) -> click.Command:
    """Import the sub-command's module and build its Click command (what Typer would have mounted)."""
    module = importlib.import_module(entry.module)
    built = typer.main.get_group(module.app)  # as mounted: without the completion options
    if entry.command is not None:
        sub = built.commands[entry.command]
        sub.name = name
        return sub
    built.name = name
    return built


class LazyGroup(TyperGroup):
    """A Typer group whose sub-commands in `COMMANDS` are imported on first use.

    Listing them (`dgov --help`) needs only their help text: while help is being formatted, a lazy
    sub-command is stood in for by a bare command carrying the table's help, and nothing is imported.
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._loaded: dict[str, click.Command] = {}
        self._listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        eager = super().get_command(ctx, cmd_name)
        if eager is not None or cmd_name not in COMMANDS:
            return eager
        entry = COMMANDS[cmd_name]
        if self._listing:
            return TyperCommand(name=cmd_name, help=entry.help)
        if cmd_name not in self._loaded:
            self._loaded[cmd_name] = load(cmd_name, entry)
        return self._loaded[cmd_name]

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return self._click_resolve_command(ctx, args)
        except click.exceptions.UsageError as e:
            # TyperGroup suggests only among the eagerly registered commands; suggest among all.
            matches = get_close_matches(args[0], self.list_commands(ctx)) if args else []
            if self.suggest_commands and matches:
                suggestions = ", ".join(f"{m!r}" for m in matches)
                e.message = f"{e.message.rstrip('.')}. Did you mean {suggestions}?"
            raise


app = typer.Typer(
    cls=LazyGroup, help="dgov: digital government platform", no_args_is_help=True, add_completion=False
)


@app.callback()
def _root() -> None:
    # With one eager command and no callback Typer would make `dgov` that command, not a group.
    pass


@app.command()
def version() -> None:
    """Print the dgov version."""
    typer.echo(__version__)


def main() -> None:
    if sys.argv[1:] == ["version"]:
        # Answered before Typer runs: its parameter adapters import pydantic (~0.3 s) on every call, and
        # `dgov version` is what scripts and health checks run most.
        print(__version__)
        return
    private_umask()  # the database, documents and keys created by any command are the node's alone
    app()


if __name__ == "__main__":
    main()
