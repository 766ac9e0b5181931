"""The catalogue as JSON for portals and agencies: public, read-only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from dgov.eservices import catalogue

router = APIRouter(prefix="/api/eservices", tags=["eservices"])


@router.get("/procedures", summary="The catalogue of procedures")
async def list_procedures(
    q: str = "", field: str = "", agency: str = "", level: str = ""
) -> list[dict[str, Any]]:
    return [
        catalogue.as_json(p) for p in catalogue.search(q[:200], field_name=field, agency=agency, level=level)
    ]


@router.get("/procedures/{procedure_id}", summary="One procedure with its form schema and UI hints")
async def get_procedure(procedure_id: str) -> dict[str, Any]:
    return catalogue.procedure(procedure_id).raw
