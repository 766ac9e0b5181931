"""Reads of the data API: `read`, `exists` and `readValue`. Every read of a person is logged with the
reader and the purpose (`X-Dgov-Purpose`); a yes/no `exists` by key reveals nothing else and is not."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from dgov.kernel.errors import FieldError, NotFound, ValidationFailed
from dgov.kernel.i18n import gettext as _
from dgov.registries import service
from dgov.registries.api_models import (
    PROBLEM,
    PROBLEMS,
    TAG,
    Answer,
    ExistsOut,
    QueryBody,
    RecordOut,
    RecordPage,
    ValueOut,
    out,
)
from dgov.registries.api_support import (
    AsOf,
    Caller,
    Credentials,
    CtxDep,
    DossierH,
    FieldsQ,
    LegalBasisH,
    PurposeH,
    as_utc,
    authorize,
    field_list,
    header_text,
    key_of,
    purpose_of,
)
from dgov.registries.definitions import Registry
from dgov.registries.engine import RecordView
from dgov.registries.service import RegistriesContext

router = APIRouter()


@dataclass(frozen=True)
class Criteria:
    """A search other than by key: the name, narrowed by birth and place."""

    name: str | None
    birth_date: date | None
    birth_year: int | None
    province: str | None
    commune: str | None


async def _search(
    ctx: RegistriesContext,
    caller: Caller,
    reg: Registry,
    criteria: Criteria,
    *,
    purpose: str,
    limit: int,
    offset: int = 0,
) -> list[RecordView]:
    return await service.search(
        ctx,
        caller.principal,
        reg.name,
        purpose=purpose,
        name=criteria.name,
        birth_date=criteria.birth_date,
        birth_year=criteria.birth_year,
        province=criteria.province,
        commune=criteria.commune,
        limit=limit,
        offset=offset,
        channel="api",
        accessor_name=caller.name,
    )


async def _read_key(
    ctx: RegistriesContext,
    caller: Caller,
    reg: Registry,
    key: str,
    *,
    purpose: str,
    as_of: datetime | None = None,
    fields: list[str] | None = None,
    legal_basis: str | None = None,
    dossier: str | None = None,
) -> RecordView:
    return await service.get(
        ctx,
        caller.principal,
        reg.name,
        key,
        purpose=purpose,
        as_of=as_utc(as_of),
        fields=fields,
        channel="api",
        legal_basis=header_text(legal_basis) or None,
        dossier_code=header_text(dossier) or None,
        accessor_name=caller.name,
    )


@router.get(
    "/{registry}/{version}/read",
    tags=[TAG],
    summary="read: one record by key, or a search",
    response_model=RecordOut | RecordPage,
    responses={**PROBLEMS, 409: {"description": "Conflicting parameters", "content": PROBLEM}},
)
async def read(
    request: Request,
    ctx: CtxDep,
    creds: Credentials,
    registry: str,
    version: str,
    purpose: PurposeH = None,
    legal_basis: LegalBasisH = None,
    dossier: DossierH = None,
    key: Annotated[
        str | None, Query(description="The record's key (population: the personal ID number)")
    ] = None,
    name: Annotated[
        str | None,
        Query(
            description='Full name, without diacritics or case if you like ("nguyen van an"); '
            "end with * to search by the beginning of the name"
        ),
    ] = None,
    birth_date: Annotated[date | None, Query(description="Date of birth (YYYY-MM-DD)")] = None,
    birth_year: Annotated[int | None, Query(ge=1800, le=2200, description="Year of birth")] = None,
    province: Annotated[str | None, Query(description="Province code (2 digits)")] = None,
    commune: Annotated[str | None, Query(description="Commune code (5 digits)")] = None,
    as_of: AsOf = None,
    fields: FieldsQ = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> RecordOut | RecordPage:
    """With `key`, the record (`{"content": …, "meta": …}`), optionally as it was at `as_of` and limited
    to `fields`. Otherwise a search by `name` (exact after folding, or a prefix ending in `*`) narrowed by
    `birth_date`/`birth_year` and `province`/`commune`, in GovStack's list envelope, `per_page` at a time.

    Needs the scope `registry.<registry>.read` (or an official's level-2 session: their agency's
    registries, their unit's records; see registries.rules) and the header `X-Dgov-Purpose`; a name
    has two syllables or more. Each person read is written to their access log (channel "api") with the
    purpose, the legal basis and the dossier code."""
    caller, reg = await authorize(request, creds, registry, version, "read", session_ok=True)
    why = purpose_of(purpose)
    if key:
        view = await _read_key(
            ctx,
            caller,
            reg,
            key,
            purpose=why,
            as_of=as_of,
            fields=field_list(fields),
            legal_basis=legal_basis,
            dossier=dossier,
        )
        return out(view)
    if as_of is not None:
        raise ValidationFailed(errors=[FieldError(("as_of",), "Past versions are read by key")])
    criteria = Criteria(name, birth_date, birth_year, province, commune)
    found = await _search(
        ctx, caller, reg, criteria, purpose=why, limit=per_page, offset=(page - 1) * per_page
    )
    nxt = str(request.url.include_query_params(page=page + 1)) if len(found) == per_page else None
    prev = str(request.url.include_query_params(page=page - 1)) if page > 1 else None
    return RecordPage(count=len(found), next=nxt, previous=prev, results=[out(v) for v in found])


@router.post(
    "/{registry}/{version}/read",
    tags=[TAG],
    summary="read (GovStack body): one record by key",
    response_model=RecordOut,
    responses=PROBLEMS,
)
async def read_post(
    request: Request,
    ctx: CtxDep,
    creds: Credentials,
    registry: str,
    version: str,
    body: QueryBody,
    purpose: PurposeH = None,
    legal_basis: LegalBasisH = None,
    dossier: DossierH = None,
) -> RecordOut:
    """GovStack's form of `read`: `{"query": {"content": {"<key field>": "…"}}}`, or
    `{"query": {"key": "…"}}`."""
    caller, reg = await authorize(request, creds, registry, version, "read", session_ok=False)
    view = await _read_key(
        ctx,
        caller,
        reg,
        key_of(reg, body.query),
        purpose=purpose_of(purpose),
        legal_basis=legal_basis,
        dossier=dossier,
    )
    return out(view)


def _answer(found: bool) -> ExistsOut:
    message = _("The record exists") if found else _("No such record")
    return ExistsOut(answer=Answer(status=found, message=message))


@router.get(
    "/{registry}/{version}/exists",
    tags=[TAG],
    summary="exists: is there such a record?",
    response_model=ExistsOut,
    responses=PROBLEMS,
)
async def exists(
    request: Request,
    ctx: CtxDep,
    creds: Credentials,
    registry: str,
    version: str,
    purpose: PurposeH = None,
    key: Annotated[str | None, Query(description="The record's key")] = None,
    name: Annotated[str | None, Query(description="Full name (as in read)")] = None,
    birth_date: Annotated[date | None, Query()] = None,
    birth_year: Annotated[int | None, Query(ge=1800, le=2200)] = None,
    province: Annotated[str | None, Query()] = None,
    commune: Annotated[str | None, Query()] = None,
) -> ExistsOut:
    """By key: a yes or no that reveals nothing else (no purpose needed, nothing logged). By name and
    other criteria it is a search: `X-Dgov-Purpose` is required and the person found is logged."""
    caller, reg = await authorize(request, creds, registry, version, "read", session_ok=True)
    if key:
        return _answer(await service.exists(ctx, caller.principal, reg.name, key))
    criteria = Criteria(name, birth_date, birth_year, province, commune)
    found = await _search(ctx, caller, reg, criteria, purpose=purpose_of(purpose), limit=1)
    return _answer(bool(found))


@router.post(
    "/{registry}/{version}/exists",
    tags=[TAG],
    summary="exists (GovStack body): by key",
    response_model=ExistsOut,
    responses=PROBLEMS,
)
async def exists_post(
    request: Request, ctx: CtxDep, creds: Credentials, registry: str, version: str, body: QueryBody
) -> ExistsOut:
    """GovStack's form of `exists`: `{"query": {"content": {"<key field>": "…"}}}`."""
    caller, reg = await authorize(request, creds, registry, version, "read", session_ok=False)
    return _answer(await service.exists(ctx, caller.principal, reg.name, key_of(reg, body.query)))


# The template's kebab-case spelling answers the same, outside the schema.
@router.get(
    "/{registry}/{version}/{key}/read-value/{field_ext}",
    include_in_schema=False,
    name="read_value_kebab",
)
@router.get(
    "/{registry}/{version}/{key}/readValue/{field_ext}",
    tags=[TAG],
    summary="readValue: one field of one record",
    response_model=ValueOut,
    responses={
        **PROBLEMS,
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "The value"},
    },
)
async def read_value(
    request: Request,
    ctx: CtxDep,
    creds: Credentials,
    registry: str,
    version: str,
    key: str,
    field_ext: Annotated[
        str, Path(description="`<field>.json` or `<field>.txt`; a nested field by its dotted path")
    ],
    purpose: PurposeH = None,
    as_of: AsOf = None,
) -> Response:
    """`…/{id}/readValue/full_name.json` answers `{"value": "Nguyễn Văn An"}`; `.txt` answers the bare
    value as text. Nested values by dotted path (`permanent_address.province_code.txt`). The person's
    access log records the one field read."""
    caller, reg = await authorize(request, creds, registry, version, "read", session_ok=True)
    field, _dot, ext = field_ext.rpartition(".")
    if ext not in ("json", "txt") or not field:
        raise NotFound("Ask for {field}.json or {field}.txt", params={"field": field or field_ext})
    top = field.split(".")[0]
    if top not in reg.fields():
        raise NotFound("No field {field} in {registry}", params={"field": field, "registry": reg.name})
    view = await _read_key(ctx, caller, reg, key, purpose=purpose_of(purpose), as_of=as_of, fields=[top])
    value = reg.get(view.data, field)
    if value is None:
        raise NotFound("This record has no value for {field}", params={"field": field})
    if ext == "txt":
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return PlainTextResponse(text)
    return JSONResponse({"value": value})
