"""The authorisation endpoint's decisions, between Authlib's validation and its code response.

Authlib validates the request (client, exact redirect URI, response type, scopes, PKCE, nonce, prompt)
and issues the code; this module decides what the person must do first: log in, log in again
(prompt=login, max_age), reach assurance level 2 (acr_values), or consent. It runs inside the
store (see storage.py) and returns an Outcome that the route turns into a response.

Refusals follow RFC 6749 §4.1.2.1: an error goes back to the client's redirect URI only once that URI
is known to be registered for a known client; otherwise the person sees an error page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oidc.core.errors import (
    ConsentRequiredError,
    LoginRequiredError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)
from sqlalchemy import select
from starlette.responses import Response

from dgov.identity.models import Consent, LoginSession
from dgov.identity.oidc.claims import LEVEL2, N_, consent_lines
from dgov.identity.oidc.server import OIDCServer, Request
from dgov.identity.oidc.storage import Client, Store, Subject, current
from dgov.kernel.audit import AuditEntry
from dgov.kernel.ids import new_id

AUTHORIZE_PATH = "/oauth/authorize"


@dataclass
class Outcome:
    response: Response | None = None  # Authlib's redirect to the client (a code or an error)
    login_url: str | None = None  # send the browser to log in (again, or at level 2) first
    end_session: bool = False  # the login session was ended to force a fresh login: clear the cookie
    error: tuple[str, str] | None = None  # (title, detail) msgids of the error page
    consent: dict[str, Any] = field(default_factory=dict)  # the consent screen's context


def _query(request: Request, *, drop: frozenset[str] = frozenset(), prompt: str | None = None) -> str:
    items: list[tuple[str, str]] = []
    for key, values in request.payload.datalist.items():
        if key in drop:
            continue
        if key == "prompt" and prompt is not None:
            if prompt:
                items.append((key, prompt))
            continue
        items.extend((key, v) for v in values)
    return urlencode(items)


def _login_url(request: Request, *, level: int = 1, fresh: bool = False) -> str:
    if fresh:
        # After the new login, the request must not demand one again (that would loop forever).
        prompt = " ".join(p for p in (request.payload.data.get("prompt") or "").split() if p != "login")
        nxt = f"{AUTHORIZE_PATH}?{_query(request, drop=frozenset({'max_age'}), prompt=prompt)}"
    else:
        nxt = f"{AUTHORIZE_PATH}?{_query(request)}"
    params = {"next": nxt}
    if level >= 2:
        params["level"] = "2"
    return "/login?" + urlencode(params)


def _classify(server: OIDCServer, request: Request) -> None:
    """Name the cause of a refusal precisely for the audit record (Authlib's own checks still decide)."""
    s = current()
    data = request.payload.data
    client = server.query_client(data.get("client_id") or "")
    if client is None:
        s.reason = "unknown_client"
    elif not data.get("redirect_uri"):
        s.reason = "redirect_uri_missing"
    elif not client.check_redirect_uri(data["redirect_uri"]):
        s.reason = "redirect_uri_not_registered"


def _refuse(server: OIDCServer, request: Request, error: OAuth2Error) -> Outcome:
    if error.redirect_uri:
        error.state = request.payload.data.get("state")
        return Outcome(response=server.handle_error_response(request, error))
    _classify(server, request)
    server.audit_failure(request, error)
    if error.error == "invalid_client":
        return Outcome(
            error=(
                N_("This service is not known to us"),
                N_(
                    "The link that brought you here names a service that is not registered or no longer "
                    "active. Nothing about you was shared."
                ),
            )
        )
    return Outcome(
        error=(
            N_("The sign-in request cannot be processed"),
            N_(
                "The service that sent you here made a mistake in its request. Nothing about you was "
                "shared. Go back to that service and try again."
            ),
        )
    )


def _consented_scopes(s: Store, account_id: Any, client_id: str) -> tuple[list[Consent], set[str]]:
    rows = list(
        s.session.scalars(
            select(Consent).where(
                Consent.account_id == account_id, Consent.client_id == client_id, Consent.revoked_at.is_(None)
            )
        )
    )
    granted: set[str] = set()
    for row in rows:
        granted.update(row.scopes or [])
    return rows, granted


def _remember(s: Store, account_id: Any, client_id: str, scopes: list[str]) -> list[str]:
    """One live consent row per person and client, holding everything agreed so far."""
    rows, granted = _consented_scopes(s, account_id, client_id)
    for row in rows:
        row.revoked_at = s.now
    merged = sorted(granted | set(scopes))
    s.session.add(
        Consent(id=new_id(), account_id=account_id, client_id=client_id, scopes=merged, granted_at=s.now)
    )
    return merged


def _end_login_session(s: Store) -> None:
    assert s.login is not None
    row = s.session.get(LoginSession, s.login.session.id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = s.now


def _login_not_good_enough(
    s: Store,
    request: Request,
    prompts: set[str],
    level_needed: int,
    refuse: Callable[[OAuth2Error, str], Outcome],
) -> Outcome | None:
    """The answer when the person's login is too old, asked to be fresh, or of too low a level; None
    when it will do."""
    login = s.login
    assert login is not None
    max_age_text = request.payload.data.get("max_age")
    max_age: int | None = None
    if max_age_text is not None:
        if not max_age_text.isdigit():
            return refuse(InvalidRequestError("max_age must be a whole number of seconds"), "bad_max_age")
        max_age = int(max_age_text)
    too_old = max_age is not None and (s.now - login.session.auth_time).total_seconds() > max_age
    if "login" in prompts or too_old:
        if "none" in prompts:
            return refuse(LoginRequiredError(), "fresh_login_needed")
        # The login page lets a logged-in person straight through: end the session so it asks again.
        _end_login_session(s)
        return Outcome(login_url=_login_url(request, level=level_needed, fresh=True), end_session=True)
    if login.session.level < level_needed:
        if "none" in prompts:
            return refuse(LoginRequiredError(), "level2_needed")
        return Outcome(login_url=_login_url(request, level=level_needed))
    return None


def _request_object(data: dict[str, str]) -> tuple[OAuth2Error, str] | None:
    """OIDC Core §6: a provider that does not support request objects MUST refuse them, not ignore them
    (ignoring would silently drop what they carry, e.g. max_age or acr_values)."""
    if "request" in data:
        return RequestNotSupportedError(), "request_object_not_supported"
    if "request_uri" in data:
        return RequestURINotSupportedError(), "request_uri_not_supported"
    return None


def authorize(server: OIDCServer, request: Request, decision: str | None) -> Outcome:
    """GET (decision None) shows consent or answers at once; POST carries "approve" or "deny"."""
    s = current()
    s.request = request
    login = s.login
    try:
        grant = server.get_consent_grant(request, end_user=login)
    except OAuth2Error as error:
        return _refuse(server, request, error)
    client: Client = grant.client
    redirect_uri: str = grant.redirect_uri
    data = request.payload.data
    state = data.get("state")
    prompts = set((data.get("prompt") or "").split())

    def refuse(error: OAuth2Error, reason: str) -> Outcome:
        s.reason = reason
        error.redirect_uri, error.state = redirect_uri, state
        return Outcome(response=server.handle_error_response(request, error))

    unsupported = _request_object(data)
    if unsupported is not None:
        return refuse(*unsupported)
    level_needed = 2 if LEVEL2 in (data.get("acr_values") or "").split() else 1
    if login is None:
        return Outcome(login_url=_login_url(request, level=level_needed))  # prompt=none: Authlib refused

    not_yet = _login_not_good_enough(s, request, prompts, level_needed, refuse)
    if not_yet is not None:
        return not_yet

    scopes: list[str] = scope_to_list(request.scope) or []
    subject = Subject.of(s.ctx, login.account, client.row)
    if decision is None:
        _rows, granted = _consented_scopes(s, login.account.id, client.client_id)
        if "consent" not in prompts and set(scopes) <= granted:
            return _issue(server, request, grant, subject)
        if "none" in prompts:
            return refuse(ConsentRequiredError(), "consent_needed")
        return Outcome(consent=_consent_context(client, redirect_uri, subject, scopes, request))

    if decision == "approve":
        merged = _remember(s, login.account.id, client.client_id, scopes)
        s.audit(
            AuditEntry(
                actor=login.principal.ref,
                action="identity.oidc.consent_granted",
                object_type="oauth_client",
                object_id=client.client_id,
                details={"scopes": scopes, "all_scopes": merged, "redirect_host": _host(redirect_uri)},
            )
        )
        return _issue(server, request, grant, subject)
    s.audit(
        AuditEntry(
            actor=login.principal.ref,
            action="identity.oidc.consent_denied",
            object_type="oauth_client",
            object_id=client.client_id,
            details={"scopes": scopes},
        )
    )
    return Outcome(response=server.create_authorization_response(request, grant_user=None, grant=grant))


def _issue(server: OIDCServer, request: Request, grant: Any, subject: Subject) -> Outcome:
    return Outcome(response=server.create_authorization_response(request, grant_user=subject, grant=grant))


def _host(uri: str) -> str:
    return urlsplit(uri).netloc


def origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def _consent_context(
    client: Client, redirect_uri: str, subject: Subject, scopes: list[str], request: Request
) -> dict[str, Any]:
    login = current().login
    assert login is not None
    return {
        "client_name": client.row.name,
        "client_id": client.client_id,
        "redirect_host": _host(redirect_uri),
        "redirect_origin": origin(redirect_uri),
        "lines": consent_lines(subject.account, scopes),
        "shares_id_number": "vn_id_number" in scopes,
        "person_name": subject.account.full_name,
        "level": login.session.level,
        "action": f"{AUTHORIZE_PATH}?{_query(request)}",
    }
