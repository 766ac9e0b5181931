"""What every `dgov` sub-command shares: a runtime per invocation and friendly domain errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from dgov.kernel.config import get_settings
from dgov.kernel.errors import DomainError
from dgov.kernel.i18n import gettext as _
from dgov.web.runtime import Runtime

T = TypeVar("T")
console = Console()
err = Console(stderr=True)


def run_with_runtime(fn: Callable[[Runtime], Awaitable[T]]) -> T:
    """Build the node's runtime, run `fn`, close it; a DomainError becomes a message and exit code 2."""

    async def go() -> T:
        rt = Runtime.build(get_settings())
        try:
            return await fn(rt)
        finally:
            await rt.close()

    try:
        return asyncio.run(go())
    except DomainError as exc:
        err.print(f"[red]{_(exc.title)}[/]" + (f": {_(exc.detail, **exc.params)}" if exc.detail else ""))
        for e in exc.errors:
            err.print(f"  - {'.'.join(map(str, e.loc))}: {_(e.message, **e.params)}")
        raise typer.Exit(2) from None


def print_json(data: Any) -> None:

    console.print_json(json.dumps(data, ensure_ascii=False, default=str))
