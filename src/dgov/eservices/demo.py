"""Demo data for online public services: the BPMN processes deployed (the catalogue itself is data
shipped with the code, so it needs no loading)."""

from __future__ import annotations

from dgov.eservices import workflow_demo
from dgov.web.runtime import Runtime


async def load(rt: Runtime) -> None:
    await workflow_demo.load(rt)
