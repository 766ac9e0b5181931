"""Writes of the data API: `create`, `update`, `updateOrCreate` and `delete`. Bearer tokens only: these
paths carry no CSRF protection, so a browser session never writes here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.security import HTTPAuthorizationCredentials
from starlette.requests import Request
from starlette.responses import Response

from dgov.kernel.errors import NotFound
from dgov.registries import service
from dgov.registries.api_models import PROBLEM, PROBLEMS, TAG, CreateBody, RecordOut, UpdateBody, out
from dgov.registries.api_support import (
    Caller,
    ChangeH,
    ChangeHeaders,
    Credentials,
    CtxDep,
    authorize,
    key_of,
)
from dgov.registries.definitions import Registry
from dgov.registries.engine import Provenance, RecordView
from dgov.registries.service import RegistriesContext

router = APIRouter()


async def _writer(
    request: Request, creds: HTTPAuthorizationCredentials | None, registry: str, version: str
) -> tuple[Caller, Registry]:
    return await authorize(request, creds, registry, version, "write", session_ok=False)


@dataclass(frozen=True)
class _Asked:
    """An update as its request states it: who, which record, the fields, and why."""

    caller: Caller
    reg: Registry
    key: str
    data: dict[str, Any]
    prov: Provenance


async def _change_asked(
    request: Request,
    creds: HTTPAuthorizationCredentials | None,
    registry: str,
    version: str,
    body: UpdateBody,
    change: ChangeHeaders,
) -> _Asked:
    caller, reg = await _writer(request, creds, registry, version)
    data = body.write.data()
    return _Asked(caller, reg, key_of(reg, body.query, data), data, change.provenance(caller))


async def _merge(ctx: RegistriesContext, asked: _Asked) -> RecordView:
    return await service.update(
        ctx,
        asked.caller.principal,
        asked.reg.name,
        asked.key,
        asked.data,
        prov=asked.prov,
        merge=True,
        version=asked.reg.version,
    )


@router.post(
    "/{registry}/{version}/create",
    tags=[TAG],
    summary="create: a new record",
    response_model=RecordOut,
    responses={**PROBLEMS, 409: {"description": "A record with this key exists", "content": PROBLEM}},
)
async def create(
    request: Request,
    ctx: CtxDep,
    creds: Credentials,
    registry: str,
    version: str,
    body: CreateBody,
    change: ChangeH,
) -> RecordOut:
    """Body `{"write": {"content": {…}}}`, validated against the registry's JSON Schema of this version
    (every bad field is listed). Needs `registry.<registry>.write`. The new record is version 1; who,
    why and on what legal basis are kept with it and in the audit chain."""
    caller, reg = await _writer(request, creds, registry, version)
    prov = change.provenance(caller)
    view = await service.create(
        ctx, caller.principal, reg.name, body.write.data(), prov=prov, version=reg.version
    )
    return out(view)


@router.put(
    "/{registry}/{version}/update",
    tags=[TAG],
    summary="update: a new version of one record",
    response_model=RecordOut,
    responses=PROBLEMS,
)
async def update(
    request: Request,
    ctx: CtxDep,
    creds: Credentials,
    registry: str,
    version: str,
    body: UpdateBody,
    change: ChangeH,
) -> RecordOut:
    """Body `{"query": {"key": "…"}, "write": {"content": {…}}}`: the fields in `write` replace those of
    the current version (the others are kept) and the result, once valid, becomes a new version; the old
    one stays readable with `as_of`. An update that changes nothing writes no version."""
    asked = await _change_asked(request, creds, registry, version, body, change)
    return out(await _merge(ctx, asked))


# The template's kebab-case spelling answers the same, outside the schema.
@router.post("/{registry}/{version}/update-or-create", include_in_schema=False, name="update_or_create_kebab")
@router.post(
    "/{registry}/{version}/updateOrCreate",
    tags=[TAG],
    summary="updateOrCreate: update the record, or create it",
    response_model=RecordOut,
    responses=PROBLEMS,
)
async def update_or_create(
    request: Request,
    ctx: CtxDep,
    creds: Credentials,
    registry: str,
    version: str,
    body: UpdateBody,
    change: ChangeH,
) -> RecordOut:
    """As `update` when the record exists; otherwise `write` (with the key from `query`) is created.
    `meta.version` tells which happened (1: created)."""
    asked = await _change_asked(request, creds, registry, version, body, change)
    try:
        view = await _merge(ctx, asked)
    except NotFound:
        reg, data = asked.reg, asked.data
        data.setdefault(reg.key_field, asked.key)
        view = await service.create(
            ctx, asked.caller.principal, reg.name, data, prov=asked.prov, version=reg.version
        )
    return out(view)


@router.delete(
    "/{registry}/{version}/{key}/delete",
    tags=[TAG],
    summary="delete: mark a record deleted (a new version)",
    status_code=204,
    responses=PROBLEMS,
)
async def delete(
    request: Request,
    ctx: CtxDep,
    creds: Credentials,
    registry: str,
    version: str,
    key: str,
    change: ChangeH,
) -> Response:
    """Nothing is erased: the record gets a new version marked deleted. It no longer appears in reads
    and searches, but its history and `as_of` reads of earlier instants keep it."""
    caller, reg = await _writer(request, creds, registry, version)
    prov = change.provenance(caller)
    await service.delete(ctx, caller.principal, reg.name, key, prov=prov)
    return Response(status_code=204)
