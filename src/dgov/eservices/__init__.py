"""Online public services: catalogue, once-only forms, dossiers, BPMN workflows and the back office."""

from typing import Any as _Any

from dgov.eservices.catalogue import Procedure, procedure, typed_fields
from dgov.eservices.catalogue import catalogue as procedures
from dgov.eservices.dossiers import STATUSES, Dossier


async def birth_journey(rt: _Any, *, n: int = 0) -> dict[str, _Any]:
    """`dgov demo birth`: the birth bundle end to end through the service layer (see workflow_demo)."""
    from dgov.eservices.workflow_demo import birth_journey as run

    return await run(rt, n=n)


__all__ = ["STATUSES", "Dossier", "Procedure", "birth_journey", "procedure", "procedures", "typed_fields"]
