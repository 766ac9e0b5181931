"""The PKI on first start: `dgov init` / `dgov demo` create the hierarchy and the agency certificates."""

from __future__ import annotations

from dgov.pki.service import init_pki
from dgov.web.runtime import Runtime


async def load(rt: Runtime) -> None:
    await init_pki(rt.settings, rt.db, actor="system:demo")
