"""The registries' data API, in the shape of GovStack's Digital Registries Data API.

Followed: the GovStack Digital Registries Building Block specification, chapter 8 "Service APIs"
(https://govstack.gitbook.io/bb-digital-registries/8-service-apis) and its OpenAPI template
`api/GovStack_Digital_registries_BB_Data_API_template-1.3.0.yaml` in
github.com/GovStackWorkingGroup/bb-digital-registries:

- paths `/data/{registry}/{version}/{method}`: `create`, `read`, `exists`, `update`, `updateOrCreate`,
  `{id}/delete`, `{id}/readValue/{field}.{ext}`, and `/data/myPersonalDataUsage`. The template's
  kebab-case spellings (`update-or-create`, `{id}/read-value/…`, `/data/MyPersonalDataUsage/1.0`) are
  accepted too (left out of the schema, same behaviour);
- bodies: `{"write": {"content": {…}}}` to create, `{"query": {"content": {…}}, "write": {"content": {…}}}`
  to update; `read` and `exists` also take GovStack's POST body `{"query": {"content": {key: …}}}`;
- envelopes: a record is `{"content": {…}}` (dgov adds `meta`: version, validity, provenance), a search
  is GovStack's list `{"count", "next", "previous", "results"}`, `exists` answers
  `{"answer": {"status", "message"}}`, `readValue` answers `{"value": …}` (json) or the bare value (txt),
  and the data-usage log uses the template's `PersonalDataUsage` keys (spelling included).

Where dgov differs, on purpose: callers authenticate with OAuth 2 bearer access tokens from dgov's own
OpenID provider (client credentials for agency systems) rather than GovStack's `Information-Mediator-Client`
header, and scopes `registry.<name>.read|write` decide; `read` is also a GET with query parameters
(searches by name, birth date or year and place, paginated); every read states its purpose
(`X-Dgov-Purpose`), which goes with the reader's name into the person's access log; versions are
integers (`1`, also written `1.0` or `v1`); errors are RFC 9457 problem details. Records are never
erased: `delete` writes a version marked deleted.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from dgov.identity import Principal, bearer_access, can, current_login
from dgov.kernel.errors import FieldError, NotFound, ValidationFailed
from dgov.kernel.i18n import gettext as _
from dgov.registries import service
from dgov.registries.definitions import Registry
from dgov.registries.definitions import registry as definition
from dgov.registries.engine import Provenance, RecordView
from dgov.registries.rules import DATA_USAGE_SCOPE
from dgov.registries.service import RegistriesContext
from dgov.web.deps import get_runtime

TAG = "Registry data (GovStack Digital Registries)"
USAGE_TAG = "My personal data usage"

router = APIRouter(prefix="/data")

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="OAuth2 bearer",
    description="An access token from dgov's OpenID provider (`POST /oauth/token`; agency systems use "
    "the client credentials grant with scopes `registry.<name>.read` / `registry.<name>.write`).",
)


# --- models (the OpenAPI document is generated from these) ---------------------------------------


class Problem(BaseModel):
    """RFC 9457 problem details (`errors` lists bad fields: `loc` and a translated `message`)."""

    type: str
    title: str
    status: int
    instance: str | None = None
    detail: str | None = None
    code: str | None = None
    errors: list[dict[str, Any]] | None = None


_PROBLEM = {"application/problem+json": {"schema": Problem.model_json_schema()}}
PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No access token, or one that is unknown, expired or revoked", "content": _PROBLEM},
    403: {"description": "The token does not carry the scope this registry needs", "content": _PROBLEM},
    404: {"description": "No such registry, version, record or field", "content": _PROBLEM},
    422: {"description": "Invalid parameters or data (field by field)", "content": _PROBLEM},
}


class RecordMeta(BaseModel):
    registry: str
    key: str = Field(description="The record's key (for the population registry, the personal ID number)")
    version: int = Field(description="Record version; every change adds one, none is overwritten")
    schema_version: int
    deleted: bool
    valid_from: datetime
    valid_to: datetime | None = Field(None, description="Set when an older version is read (as_of)")
    changed_by: str
    reason: str | None
    legal_basis: str | None
    dossier_code: str | None


class RecordOut(BaseModel):
    content: dict[str, Any] = Field(
        description="The record's data, as the registry's JSON Schema describes it"
    )
    meta: RecordMeta


class RecordPage(BaseModel):
    """GovStack's list envelope. `count` is the number of results on this page; `next` is set when the
    page is full (the next one may be empty)."""

    count: int
    next: str | None
    previous: str | None
    results: list[RecordOut]


class Answer(BaseModel):
    status: bool
    message: str


class ExistsOut(BaseModel):
    answer: Answer


class Content(BaseModel):
    content: dict[str, Any]


class RecordQuery(BaseModel):
    """Which record: its `key`, or GovStack's `content` holding the registry's key field."""

    key: str | None = None
    content: dict[str, Any] | None = None


class Write(BaseModel):
    """The data: GovStack's `{"content": {…}}`, or the fields directly."""

    model_config = ConfigDict(extra="allow", title="RecordWrite")
    content: dict[str, Any] | None = None

    def data(self) -> dict[str, Any]:
        return dict(self.content) if self.content is not None else dict(self.model_extra or {})


class CreateBody(BaseModel):
    write: Write


class QueryBody(BaseModel):
    query: RecordQuery


class UpdateBody(BaseModel):
    query: RecordQuery | None = None
    write: Write


class ValueOut(BaseModel):
    value: Any


class Reference(BaseModel):
    ReferenceID: str = Field(description="The record read (its key)")
    Registry: str


class PersonalDataUsage(BaseModel):
    """One read of the person's data. Keys follow the GovStack template (including its spelling of
    `Refrences`); dgov adds the fields read, the purpose, the legal basis and the channel."""

    ID: str
    ReaderID: str = Field(description="Who read: client:<id> for a system, official:<id> for a person")
    ReaderKind: str = Field(description="official, client, agency or system")
    ReaderName: str
    ReaderApplicationName: str | None = None
    SearchDateTime: datetime
    Refrences: list[Reference]
    Fields: list[str]
    Purpose: str
    LegalBasis: str | None = None
    DossierCode: str | None = None
    Channel: str


# --- plumbing -----------------------------------------------------------------------------------


def registries_context(request: Request) -> RegistriesContext:
    rt = get_runtime(request)
    ctx = rt.extras.get("registries")
    if not isinstance(ctx, RegistriesContext) or ctx.db is not rt.db:
        ctx = rt.extras["registries"] = RegistriesContext(db=rt.db)
    return ctx


CtxDep = Annotated[RegistriesContext, Depends(registries_context)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


@dataclass(frozen=True)
class Caller:
    principal: Principal
    name: str
    id_number: str | None = None


def _unauthenticated(detail: str, error: str | None = None) -> HTTPException:
    challenge = 'Bearer realm="dgov"' + (f', error="{error}"' if error else "")
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": challenge})


async def _caller(
    request: Request, creds: HTTPAuthorizationCredentials | None, *, session_ok: bool
) -> Caller:
    """The bearer token's client; for safe (GET) requests also the logged-in person of the session."""
    if creds is not None:
        access = await bearer_access(registries_context(request).db, creds.credentials)
        if access is None:
            raise _unauthenticated(_("The access token is unknown, expired or revoked."), "invalid_token")
        return Caller(principal=access.principal, name=access.client_name, id_number=access.id_number)
    if session_ok:
        login = await current_login(request)
        if login is not None:
            agencies = sorted({g.agency for g in login.principal.roles})
            name = login.account.full_name + (f" · {', '.join(agencies)}" if agencies else "")
            return Caller(principal=login.principal, name=name, id_number=login.account.id_number)
    raise _unauthenticated(_("Present an OAuth 2 access token in the Authorization header (Bearer)."))


def _registry(name: str, version: str) -> Registry:
    m = re.fullmatch(r"v?(\d{1,4})(?:\.0)?", version)
    if m is None:
        raise NotFound("Registry {name} has no version {version}", params={"name": name, "version": version})
    return definition(name, int(m.group(1)))


def _need_scope(caller: Caller, reg: Registry, verb: str) -> None:
    """A clearer refusal than the service's for a client: which scope is missing (RFC 6750 §3.1)."""
    p = caller.principal
    if p.kind == "client" and not can(p, f"registries.record.{verb}", reg.name):
        scope = f"registry.{reg.name}.{verb}"
        raise HTTPException(
            403,
            detail=_("The access token does not carry the scope {scope}.", scope=scope),
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
        )


def _text(value: str | None) -> str:
    """A header value as the client meant it: UTF-8 (raw or percent-encoded), not Latin-1."""
    if not value:
        return ""
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        value = value.encode("latin-1").decode("utf-8")
    return unquote(value).strip()


def _purpose(value: str | None) -> str:
    purpose = _text(value)
    if not purpose:
        raise ValidationFailed(
            errors=[FieldError(("header", "X-Dgov-Purpose"), "State why you need this data")]
        )
    return purpose[:2000]


def _provenance(
    caller: Caller, reason: str | None, legal_basis: str | None, dossier: str | None
) -> Provenance:
    return Provenance(
        actor=caller.principal.ref,
        reason=_text(reason)[:300] or None,
        legal_basis=_text(legal_basis)[:300] or None,
        dossier_code=_text(dossier)[:50] or None,
    )


def _as_utc(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _fields(values: list[str] | None) -> list[str] | None:
    out = [f.strip() for v in values or [] for f in v.split(",") if f.strip()]
    return out or None


def out(view: RecordView) -> RecordOut:
    return RecordOut(
        content=view.data,
        meta=RecordMeta(
            registry=view.registry,
            key=view.key,
            version=view.version,
            schema_version=view.schema_version,
            deleted=view.deleted,
            valid_from=view.valid_from,
            valid_to=view.valid_to,
            changed_by=view.changed_by,
            reason=view.reason,
            legal_basis=view.legal_basis,
            dossier_code=view.dossier_code,
        ),
    )


def _key_of(reg: Registry, query: RecordQuery | None, data: dict[str, Any] | None = None) -> str:
    if query is not None and query.key:
        return query.key
    if query is not None and query.content and query.content.get(reg.key_field):
        return str(query.content[reg.key_field])
    if data and data.get(reg.key_field):
        return str(data[reg.key_field])
    raise ValidationFailed(
        errors=[
            FieldError(("query", "key"), "Name the record by its key ({field})", {"field": reg.key_field})
        ]
    )


# Header parameters shared by the routes (documented once here).
PurposeH = Annotated[
    str | None,
    Header(
        alias="X-Dgov-Purpose",
        description="Why the data is read (required for reads; shown to the person in their access log). "
        "UTF-8, percent-encoding allowed.",
    ),
]
LegalBasisH = Annotated[
    str | None, Header(alias="X-Dgov-Legal-Basis", description="The legal basis of the read or change")
]
DossierH = Annotated[
    str | None,
    Header(alias="X-Dgov-Dossier", description="The dossier (hồ sơ) code the read or change serves"),
]
ReasonH = Annotated[str | None, Header(alias="X-Dgov-Reason", description="Why the record changes")]
AsOf = Annotated[
    datetime | None,
    Query(description="Read the record as it was at this instant (ISO 8601; without an offset, UTC)"),
]
FieldsQ = Annotated[
    list[str] | None, Query(description="Only these fields (repeat the parameter or separate with commas)")
]


# --- reads --------------------------------------------------------------------------------------


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
        as_of=_as_utc(as_of),
        fields=fields,
        channel="api",
        legal_basis=_text(legal_basis) or None,
        dossier_code=_text(dossier) or None,
        accessor_name=caller.name,
    )


@router.get(
    "/{registry}/{version}/read",
    tags=[TAG],
    summary="read: one record by key, or a search",
    response_model=RecordOut | RecordPage,
    responses={**PROBLEMS, 409: {"description": "Conflicting parameters", "content": _PROBLEM}},
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

    Needs the scope `registry.<registry>.read` and the header `X-Dgov-Purpose`; each person read is
    written to their access log (channel "api") with the purpose, the legal basis and the dossier code."""
    caller = await _caller(request, creds, session_ok=True)
    reg = _registry(registry, version)
    _need_scope(caller, reg, "read")
    why = _purpose(purpose)
    if key:
        view = await _read_key(
            ctx,
            caller,
            reg,
            key,
            purpose=why,
            as_of=as_of,
            fields=_fields(fields),
            legal_basis=legal_basis,
            dossier=dossier,
        )
        return out(view)
    if as_of is not None:
        raise ValidationFailed(errors=[FieldError(("as_of",), "Past versions are read by key")])
    found = await service.search(
        ctx,
        caller.principal,
        reg.name,
        purpose=why,
        name=name,
        birth_date=birth_date,
        birth_year=birth_year,
        province=province,
        commune=commune,
        limit=per_page,
        offset=(page - 1) * per_page,
        channel="api",
        accessor_name=caller.name,
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
    caller = await _caller(request, creds, session_ok=False)
    reg = _registry(registry, version)
    _need_scope(caller, reg, "read")
    view = await _read_key(
        ctx,
        caller,
        reg,
        _key_of(reg, body.query),
        purpose=_purpose(purpose),
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
    caller = await _caller(request, creds, session_ok=True)
    reg = _registry(registry, version)
    _need_scope(caller, reg, "read")
    if key:
        return _answer(await service.exists(ctx, caller.principal, reg.name, key))
    found = await service.search(
        ctx,
        caller.principal,
        reg.name,
        purpose=_purpose(purpose),
        name=name,
        birth_date=birth_date,
        birth_year=birth_year,
        province=province,
        commune=commune,
        limit=1,
        channel="api",
        accessor_name=caller.name,
    )
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
    caller = await _caller(request, creds, session_ok=False)
    reg = _registry(registry, version)
    _need_scope(caller, reg, "read")
    return _answer(await service.exists(ctx, caller.principal, reg.name, _key_of(reg, body.query)))


async def _read_value(
    request: Request,
    ctx: RegistriesContext,
    creds: HTTPAuthorizationCredentials | None,
    registry: str,
    version: str,
    key: str,
    field_ext: str,
    purpose: str | None,
    as_of: datetime | None,
) -> Response:
    caller = await _caller(request, creds, session_ok=True)
    reg = _registry(registry, version)
    _need_scope(caller, reg, "read")
    field, _dot, ext = field_ext.rpartition(".")
    if ext not in ("json", "txt") or not field:
        raise NotFound("Ask for {field}.json or {field}.txt", params={"field": field or field_ext})
    top = field.split(".")[0]
    if top not in reg.fields():
        raise NotFound("No field {field} in {registry}", params={"field": field, "registry": reg.name})
    view = await _read_key(ctx, caller, reg, key, purpose=_purpose(purpose), as_of=as_of, fields=[top])
    value = reg.get(view.data, field)
    if value is None:
        raise NotFound("This record has no value for {field}", params={"field": field})
    if ext == "txt":
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return PlainTextResponse(text)
    return JSONResponse({"value": value})


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
    return await _read_value(request, ctx, creds, registry, version, key, field_ext, purpose, as_of)


@router.get("/{registry}/{version}/{key}/read-value/{field_ext}", include_in_schema=False)
async def read_value_kebab(
    request: Request,
    ctx: CtxDep,
    creds: Credentials,
    registry: str,
    version: str,
    key: str,
    field_ext: str,
    purpose: PurposeH = None,
    as_of: AsOf = None,
) -> Response:
    return await _read_value(request, ctx, creds, registry, version, key, field_ext, purpose, as_of)


# --- writes (bearer tokens only: these paths carry no CSRF protection) -----------------------------


@router.post(
    "/{registry}/{version}/create",
    tags=[TAG],
    summary="create: a new record",
    response_model=RecordOut,
    responses={**PROBLEMS, 409: {"description": "A record with this key exists", "content": _PROBLEM}},
)
async def create(
    request: Request,
    ctx: CtxDep,
    creds: Credentials,
    registry: str,
    version: str,
    body: CreateBody,
    reason: ReasonH = None,
    legal_basis: LegalBasisH = None,
    dossier: DossierH = None,
) -> RecordOut:
    """Body `{"write": {"content": {…}}}`, validated against the registry's JSON Schema of this version
    (every bad field is listed). Needs `registry.<registry>.write`. The new record is version 1; who,
    why and on what legal basis are kept with it and in the audit chain."""
    caller = await _caller(request, creds, session_ok=False)
    reg = _registry(registry, version)
    _need_scope(caller, reg, "write")
    view = await service.create(
        ctx,
        caller.principal,
        reg.name,
        body.write.data(),
        prov=_provenance(caller, reason, legal_basis, dossier),
        version=reg.version,
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
    reason: ReasonH = None,
    legal_basis: LegalBasisH = None,
    dossier: DossierH = None,
) -> RecordOut:
    """Body `{"query": {"key": "…"}, "write": {"content": {…}}}`: the fields in `write` replace those of
    the current version (the others are kept) and the result, once valid, becomes a new version; the old
    one stays readable with `as_of`. An update that changes nothing writes no version."""
    caller = await _caller(request, creds, session_ok=False)
    reg = _registry(registry, version)
    _need_scope(caller, reg, "write")
    data = body.write.data()
    view = await service.update(
        ctx,
        caller.principal,
        reg.name,
        _key_of(reg, body.query, data),
        data,
        prov=_provenance(caller, reason, legal_basis, dossier),
        merge=True,
        version=reg.version,
    )
    return out(view)


async def _update_or_create(
    request: Request,
    ctx: RegistriesContext,
    creds: HTTPAuthorizationCredentials | None,
    registry: str,
    version: str,
    body: UpdateBody,
    prov_headers: tuple[str | None, str | None, str | None],
) -> RecordOut:
    caller = await _caller(request, creds, session_ok=False)
    reg = _registry(registry, version)
    _need_scope(caller, reg, "write")
    data = body.write.data()
    key = _key_of(reg, body.query, data)
    prov = _provenance(caller, *prov_headers)
    try:
        view = await service.update(
            ctx, caller.principal, reg.name, key, data, prov=prov, merge=True, version=reg.version
        )
    except NotFound:
        data.setdefault(reg.key_field, key)
        view = await service.create(ctx, caller.principal, reg.name, data, prov=prov, version=reg.version)
    return out(view)


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
    reason: ReasonH = None,
    legal_basis: LegalBasisH = None,
    dossier: DossierH = None,
) -> RecordOut:
    """As `update` when the record exists; otherwise `write` (with the key from `query`) is created.
    `meta.version` tells which happened (1: created)."""
    return await _update_or_create(
        request, ctx, creds, registry, version, body, (reason, legal_basis, dossier)
    )


@router.post("/{registry}/{version}/update-or-create", include_in_schema=False)
async def update_or_create_kebab(
    request: Request,
    ctx: CtxDep,
    creds: Credentials,
    registry: str,
    version: str,
    body: UpdateBody,
    reason: ReasonH = None,
    legal_basis: LegalBasisH = None,
    dossier: DossierH = None,
) -> RecordOut:
    return await _update_or_create(
        request, ctx, creds, registry, version, body, (reason, legal_basis, dossier)
    )


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
    reason: ReasonH = None,
    legal_basis: LegalBasisH = None,
    dossier: DossierH = None,
) -> Response:
    """Nothing is erased: the record gets a new version marked deleted. It no longer appears in reads
    and searches, but its history and `as_of` reads of earlier instants keep it."""
    caller = await _caller(request, creds, session_ok=False)
    reg = _registry(registry, version)
    _need_scope(caller, reg, "write")
    await service.delete(
        ctx, caller.principal, reg.name, key, prov=_provenance(caller, reason, legal_basis, dossier)
    )
    return Response(status_code=204)


# --- the person's own view ------------------------------------------------------------------------


async def _usage(
    request: Request,
    ctx: RegistriesContext,
    creds: HTTPAuthorizationCredentials | None,
    registry: str | None,
    user_id: str | None,
) -> list[PersonalDataUsage]:
    caller = await _caller(request, creds, session_ok=True)
    p = caller.principal
    if p.kind == "client" and (p.account_id is None or DATA_USAGE_SCOPE not in p.scopes):
        raise HTTPException(
            403,
            detail=_("The access token does not carry the scope {scope}.", scope=DATA_USAGE_SCOPE),
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{DATA_USAGE_SCOPE}"'},
        )
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


@router.get("/MyPersonalDataUsage/1.0", include_in_schema=False)
async def my_personal_data_usage_govstack(
    request: Request,
    ctx: CtxDep,
    creds: Credentials,
    registry: Annotated[str | None, Query(alias="DatabaseID")] = None,
    user_id: Annotated[str | None, Query(alias="userID")] = None,
) -> list[PersonalDataUsage]:
    return await _usage(request, ctx, creds, registry, user_id)
