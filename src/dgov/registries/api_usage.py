"""`/data/myPersonalDataUsage`: the person's own access log, for the logged-in citizen or for an
application they authorised with the scope `my_data_usage`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.security import HTTPAuthorizationCredentials
from starlette.exceptions import HTTPException
from starlette.requests import Request

from dgov.kernel.i18n import gettext as _
from dgov.registries import service
from dgov.registries.api_models import PROBLEMS, USAGE_TAG, PersonalDataUsage, Reference
from dgov.registries.api_support import Credentials, CtxDep, authenticate, insufficient_scope
from dgov.registries.rules import DATA_USAGE_SCOPE
from dgov.registries.service import RegistriesContext

router = APIRouter()


async def _usage(
    request: Request,
    ctx: RegistriesContext,
    creds: HTTPAuthorizationCredentials | None,
    registry: str | None,
    user_id: str | None,
) -> list[PersonalDataUsage]:
    caller = await authenticate(request, creds, session_ok=True)
    p = caller.principal
    if p.kind == "client" and (p.account_id is None or DATA_USAGE_SCOPE not in p.scopes):
        raise insufficient_scope(DATA_USAGE_SCOPE)
    if not caller.id_number or (user_id and user_id != caller.id_number):
        raise HTTPException(403, detail=_("Each person sees only the log of their own data."))
    rows = await service.access_log(ctx, p, caller.id_number)
    return [
        PersonalDataUsage(
            ID=r["id"],
            ReaderID=r["accessor"],
            ReaderKind=r["accessor_kind"],
            ReaderName=r["accessor_name"],
            ReaderApplicationName=r["accessor_name"] if r["accessor_kind"] == "client" else None,
            SearchDateTime=datetime.fromisoformat(r["at"]),
            Refrences=[Reference(ReferenceID=r["record_key"], Registry=r["registry"])],
            Fields=r["fields"],
            Purpose=r["purpose"],
            LegalBasis=r["legal_basis"],
            DossierCode=r["dossier_code"],
            Channel=r["channel"],
        )
        for r in rows
        if not registry or r["registry"] == registry
    ]


@router.get(
    "/myPersonalDataUsage",
    tags=[USAGE_TAG],
    summary="Who has read my personal data",
    response_model=list[PersonalDataUsage],
    responses={401: PROBLEMS[401], 403: PROBLEMS[403]},
)
async def my_personal_data_usage(
    request: Request,
    ctx: CtxDep,
    creds: Credentials,
    registry: Annotated[
        str | None, Query(description="Only reads of this registry (GovStack: DatabaseID)")
    ] = None,
    user_id: Annotated[
        str | None, Query(alias="userID", description="Your personal ID number (optional; only your own)")
    ] = None,
) -> list[PersonalDataUsage]:
    """The person's access log, newest first: every read of their data by an official or a system,
    with the fields read, the purpose and when. For the logged-in citizen (session), or for an
    application the citizen authorised with the scope `my_data_usage` (authorization code flow)."""
    return await _usage(request, ctx, creds, registry, user_id)


# The template's spelling, outside the schema: its query parameter is `DatabaseID`.
@router.get("/MyPersonalDataUsage/1.0", include_in_schema=False)
async def my_personal_data_usage_govstack(
    request: Request,
    ctx: CtxDep,
    creds: Credentials,
    registry: Annotated[str | None, Query(alias="DatabaseID")] = None,
    user_id: Annotated[str | None, Query(alias="userID")] = None,
) -> list[PersonalDataUsage]:
    return await _usage(request, ctx, creds, registry, user_id)
