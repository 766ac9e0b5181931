"""What every data API route needs: who calls (bearer token or session), which registry and version,
whether the caller's scopes allow it, and the dgov headers (purpose, legal basis, dossier, reason)."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import Depends, Header, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException
from starlette.requests import Request

from dgov.identity import Principal, bearer_access, can, current_login
from dgov.kernel.errors import FieldError, NotFound, ValidationFailed
from dgov.kernel.i18n import gettext as _
from dgov.kernel.text import storable, text_errors
from dgov.registries.api_models import RecordQuery
from dgov.registries.definitions import Registry
from dgov.registries.definitions import registry as definition
from dgov.registries.engine import Provenance
from dgov.registries.service import RegistriesContext
from dgov.web.deps import get_runtime

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="OAuth2 bearer",
    description="An access token from dgov's OpenID provider (`POST /oauth/token`; agency systems use "
    "the client credentials grant with scopes `registry.<name>.read` / `registry.<name>.write`).",
)


def registries_context(request: Request) -> RegistriesContext:
    rt = get_runtime(request)
    ctx = rt.extras.get("registries")
    if not isinstance(ctx, RegistriesContext) or ctx.db is not rt.db:
        ctx = rt.extras["registries"] = RegistriesContext(db=rt.db)
    return ctx


async def _context_dependency(request: Request) -> RegistriesContext:
    # A coroutine, so that FastAPI does not hand it to the thread pool on every request.
    return registries_context(request)


CtxDep = Annotated[RegistriesContext, Depends(_context_dependency)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


@dataclass(frozen=True)
class Caller:
    principal: Principal
    name: str
    id_number: str | None = None


def reader_name(login: Any) -> str:
    """A logged-in person as their access log names them: their name and their agencies."""
    agencies = sorted({g.agency for g in login.principal.roles})
    return str(login.account.full_name) + (f" · {', '.join(agencies)}" if agencies else "")


def _unauthenticated(detail: str, error: str | None = None) -> HTTPException:
    challenge = 'Bearer realm="dgov"' + (f', error="{error}"' if error else "")
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": challenge})


def insufficient_scope(scope: str) -> HTTPException:
    """A refusal that names the missing scope (RFC 6750 §3.1)."""
    return HTTPException(
        403,
        detail=_("The access token does not carry the scope {scope}.", scope=scope),
        headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
    )


async def authenticate(
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
            return Caller(
                principal=login.principal, name=reader_name(login), id_number=login.account.id_number
            )
    raise _unauthenticated(_("Present an OAuth 2 access token in the Authorization header (Bearer)."))


def _registry(name: str, version: str) -> Registry:
    m = re.fullmatch(r"v?(\d{1,4})(?:\.0)?", version)
    if m is None:
        raise NotFound("Registry {name} has no version {version}", params={"name": name, "version": version})
    return definition(name, int(m.group(1)))


def _need_scope(caller: Caller, reg: Registry, verb: str) -> None:
    """A clearer refusal than the service's for a client: which scope is missing."""
    p = caller.principal
    if p.kind == "client" and not can(p, f"registries.record.{verb}", reg.name):
        raise insufficient_scope(f"registry.{reg.name}.{verb}")


async def authorize(
    request: Request,
    creds: HTTPAuthorizationCredentials | None,
    registry: str,
    version: str,
    verb: str,
    *,
    session_ok: bool,
) -> tuple[Caller, Registry]:
    """The caller, the registry version they name, and their right to `verb` (read or write) it."""
    caller = await authenticate(request, creds, session_ok=session_ok)
    reg = _registry(registry, version)
    _need_scope(caller, reg, verb)
    return caller, reg


def header_text(value: str | None) -> str:
    """A header value as the client meant it: UTF-8 (raw or percent-encoded), not Latin-1."""
    if not value:
        return ""
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        value = value.encode("latin-1").decode("utf-8")
    return unquote(value).strip()


def purpose_of(value: str | None) -> str:
    purpose = header_text(value)
    if not purpose:
        raise ValidationFailed(
            errors=[FieldError(("header", "X-Dgov-Purpose"), "State why you need this data")]
        )
    return purpose[:2000]


@dataclass(frozen=True)
class ChangeHeaders:
    """Why a write happens, as its headers state it."""

    reason: str | None
    legal_basis: str | None
    dossier: str | None

    def provenance(self, caller: Caller) -> Provenance:
        return Provenance(
            actor=caller.principal.ref,
            reason=header_text(self.reason)[:300] or None,
            legal_basis=header_text(self.legal_basis)[:300] or None,
            dossier_code=header_text(self.dossier)[:50] or None,
        )


def as_utc(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    try:
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC (and 9999-12-31T23:00-01:00 after)
        raise ValidationFailed(
            errors=[FieldError(("query", "as_of"), "Enter a date and time between the years 1 and 9999")]
        ) from None


def field_list(values: list[str] | None) -> list[str] | None:
    out = [f.strip() for v in values or [] for f in v.split(",") if f.strip()]
    return out or None


def key_of(reg: Registry, query: RecordQuery | None, data: dict[str, Any] | None = None) -> str:
    key = _key_of(reg, query, data)
    if not storable(key):
        raise ValidationFailed(errors=text_errors(key, ("query", "key")))
    return key


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


async def change_headers(
    reason: ReasonH = None, legal_basis: LegalBasisH = None, dossier: DossierH = None
) -> ChangeHeaders:
    return ChangeHeaders(reason, legal_basis, dossier)


ChangeH = Annotated[ChangeHeaders, Depends(change_headers)]
