"""The domains this build of dgov carries, in dependency order.

Each domain is a package `dgov.<name>` that may provide `models` (tables), `cli.app` (a Typer app
mounted as `dgov <name> …`), `pages.router` / `api.router` (routes) and `demo.load` (demo data).
Adding a domain is one line here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

DOMAINS: tuple[str, ...] = ("notify", "identity", "registries", "exchange", "pki", "documents", "eservices")
# Demo data goes in another order: the population registry must know the demo people before identity
# opens their accounts (it checks each new citizen there).
DEMO_ORDER: tuple[str, ...] = (
    "notify",
    "registries",
    "identity",
    "exchange",
    "pki",
    "documents",
    "eservices",
)


def _optional(module: str) -> ModuleType | None:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None


def domain_modules(role: str) -> list[tuple[str, ModuleType]]:
    """`role` is a file role such as "models", "cli", "pages", "api" or "demo"."""
    found = []
    for name in DEMO_ORDER if role == "demo" else DOMAINS:
        mod = _optional(f"dgov.{name}.{role}")
        if mod is not None:
            found.append((name, mod))
    return found


def load_models() -> None:
    importlib.import_module("dgov.kernel.models")
    domain_modules("models")
