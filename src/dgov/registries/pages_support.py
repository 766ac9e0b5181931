"""Who may see what on the registry pages, and the tickets that make a record link a deliberate read: an
HMAC over the official, the record and the purpose, made when the official stated the purpose here."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse

from dgov.identity import Principal
from dgov.kernel.errors import Forbidden, ValidationFailed
from dgov.kernel.i18n import gettext as _
from dgov.registries import service
from dgov.registries.api_support import registries_context
from dgov.registries.definitions import Registry, catalogue
from dgov.registries.definitions import registry as definition
from dgov.registries.pages_present import lang
from dgov.registries.rules import needs_higher_level
from dgov.web.deps import get_runtime


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)


async def readable(request: Request, p: Principal) -> list[Registry]:
    """The registries `p` may search (their agency's and those it has a right to), people first; with
    none, the search is refused (with the reason when a level-2 login would open them)."""
    ctx = registries_context(request)
    found = await service.readable(ctx, p)
    if not found:
        for name in catalogue():
            if needs_higher_level(p, name, await ctx.agency_rights()):
                raise Forbidden("Reading personal data needs a level-2 login (password and one-time code)")
        raise Forbidden()
    return sorted(found, key=lambda r: (r.name != "population", r.title(lang())))


async def readable_registry(request: Request, p: Principal, name: str) -> Registry:
    reg = definition(name)
    if reg.name not in {r.name for r in await readable(request, p)}:
        raise Forbidden()
    return reg


def ticket(request: Request, p: Principal, registry: str, key: str, purpose: str) -> str:
    secret = get_runtime(request).secret.encode()
    msg = f"registries.view\x1f{p.ref}\x1f{registry}\x1f{key}\x1f{purpose}".encode()
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()[:32]


def record_url(
    request: Request, p: Principal, registry: str, key: str, purpose: str, as_of: str | None = None
) -> str:
    query = {"purpose": purpose, "t": ticket(request, p, registry, key, purpose)}
    if as_of:
        query["as_of"] = as_of
    return f"/registries/{registry}/{quote(key, safe='')}?" + urlencode(query)


def form_errors(exc: ValidationFailed) -> dict[str, str]:
    """The service's field errors, keyed by the form's field names."""
    out: dict[str, str] = {}
    for e in exc.errors:
        name = {"key": "id_number"}.get(str(e.loc[-1]), str(e.loc[-1])) if e.loc else "name"
        out.setdefault(name, _(e.message, **e.params))
    return out
