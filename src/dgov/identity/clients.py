"""OAuth/OIDC clients (relying parties and agency systems): register, list, disable, new secret.

A confidential client's secret is shown once, when it is created or replaced; only its SHA-256 is
stored. The secret is 256 random bits, so a slow password hash would add nothing but latency to every
token request (passwords chosen by people are a different matter: argon2id).
Public clients (apps that cannot keep a secret) have none and must use PKCE.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select, update

from dgov.identity.authz import Principal, require
from dgov.identity.context import IdentityContext
from dgov.identity.models import OAuthClient, OAuthToken
from dgov.identity.oidc.claims import N_, USER_SCOPES
from dgov.identity.oidc.keys import ALGORITHMS
from dgov.kernel import clock
from dgov.kernel.audit import AuditEntry
from dgov.kernel.errors import Conflict, FieldError, NotFound, ValidationFailed

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{2,99}")
_SCOPE = re.compile(r"[a-z][a-z0-9_.:-]{0,99}")


def secret_digest(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(stored: str, presented: str) -> bool:
    return hmac.compare_digest(stored, secret_digest(presented))


@dataclass(frozen=True)
class NewClient:
    client: OAuthClient
    secret: str | None  # the plain secret, returned this once (None for a public client)


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _uri_problem(uri: str) -> str | None:
    try:
        parts = urlsplit(uri)
    except ValueError:
        return N_("Enter absolute https addresses")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return N_("Enter absolute https addresses")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        return N_("Plain http is allowed only for addresses on this machine (localhost)")
    if parts.fragment or "#" in uri:
        return N_("A redirect address cannot contain a fragment (#…)")
    return None


def _check_uris(field: str, uris: Sequence[str], errors: list[FieldError]) -> None:
    for uri in uris:
        problem = _uri_problem(uri)
        if problem:
            errors.append(FieldError((field,), problem))
            return


def _check_grants(grants: list[str], public: bool, errors: list[FieldError]) -> None:
    if not grants or any(g not in GRANT_TYPES for g in grants):
        errors.append(
            FieldError(("grant_types",), "Choose among authorization_code, refresh_token, client_credentials")
        )
    if "refresh_token" in grants and "authorization_code" not in grants:
        errors.append(
            FieldError(("grant_types",), "Refresh tokens come only with the authorization code flow")
        )
    if public and "client_credentials" in grants:
        errors.append(FieldError(("grant_types",), "A public client cannot use client credentials"))


def _check_scopes(
    scope_list: list[str], grants: list[str], redirect_uris: Sequence[str], errors: list[FieldError]
) -> None:
    if any(not _SCOPE.fullmatch(s) for s in scope_list):
        errors.append(FieldError(("scopes",), "Scopes are lowercase words such as openid or profile"))
    if "authorization_code" in grants:
        if not redirect_uris:
            errors.append(FieldError(("redirect_uris",), "Enter at least one redirect address"))
        if "openid" not in scope_list:
            errors.append(FieldError(("scopes",), "A client that logs people in needs the openid scope"))
    elif set(scope_list) & USER_SCOPES:
        errors.append(FieldError(("scopes",), "Scopes about a person need the authorization code flow"))


async def add_client(
    ctx: IdentityContext,
    actor: Principal,
    *,
    name: str,
    scopes: Sequence[str],
    redirect_uris: Sequence[str] = (),
    grant_types: Sequence[str] = ("authorization_code",),
    public: bool = False,
    sector: str | None = None,
    id_token_alg: str = "ES256",  # noqa: S107 (an algorithm name, not a password)
    post_logout_redirect_uris: Sequence[str] = (),
    client_id: str | None = None,
    secret: str | None = None,
) -> NewClient:
    """Register a client. `secret` is for published demo clients only; otherwise one is generated."""
    require(actor, "identity.client.manage")
    client_id = client_id or f"c-{secrets.token_hex(8)}"
    scope_list = list(dict.fromkeys(s.strip() for s in scopes if s.strip()))
    grants = list(dict.fromkeys(grant_types))
    errors: list[FieldError] = []
    if not name.strip():
        errors.append(FieldError(("name",), "Enter the name people will see on the consent screen"))
    if not _CLIENT_ID.fullmatch(client_id):
        errors.append(FieldError(("client_id",), "Use 3 to 100 letters, digits, dots, dashes or underscores"))
    _check_grants(grants, public, errors)
    _check_scopes(scope_list, grants, redirect_uris, errors)
    _check_uris("redirect_uris", redirect_uris, errors)
    _check_uris("post_logout_redirect_uris", post_logout_redirect_uris, errors)
    if id_token_alg not in ALGORITHMS:
        errors.append(FieldError(("id_token_alg",), "Choose ES256 or RS256"))
    if errors:
        raise ValidationFailed(errors=errors)
    # Pairwise subjects are per sector; by default each client is its own sector, so no two clients can
    # link a person. An organisation's clients that must see the same subject share a named sector.
    sector = (sector or client_id).strip()
    if secret is not None and len(secret) < 32:
        errors.append(FieldError(("secret",), "A client secret has at least 32 characters"))
    if errors:
        raise ValidationFailed(errors=errors)
    secret = None if public else (secret or secrets.token_urlsafe(32))
    async with ctx.db.uow() as uow:
        if await uow.session.get(OAuthClient, client_id) is not None:
            raise Conflict("A client with this id already exists")
        client = OAuthClient(
            client_id=client_id,
            secret_hash=secret_digest(secret) if secret else None,
            name=name.strip(),
            redirect_uris=list(redirect_uris),
            scopes=" ".join(scope_list),
            grant_types=grants,
            public=public,
            id_token_alg=id_token_alg,
            sector=sector,
            post_logout_redirect_uris=list(post_logout_redirect_uris),
            created_at=clock.now(),
        )
        uow.session.add(client)
        uow.audit(
            AuditEntry(
                actor=actor.ref,
                action="identity.client_added",
                object_type="oauth_client",
                object_id=client_id,
                details={
                    "name": client.name,
                    "scopes": scope_list,
                    "grant_types": grants,
                    "public": public,
                    "sector": sector,
                },
            )
        )
        await uow.commit()
    return NewClient(client=client, secret=secret)


async def list_clients(ctx: IdentityContext, actor: Principal) -> list[OAuthClient]:
    require(actor, "identity.client.manage")
    async with ctx.db.uow(readonly=True) as uow:
        return list(await uow.session.scalars(select(OAuthClient).order_by(OAuthClient.name)))


async def disable_client(ctx: IdentityContext, actor: Principal, client_id: str) -> None:
    """The client can no longer log anyone in, and every token it holds stops working at once."""
    require(actor, "identity.client.manage")
    now = clock.now()
    async with ctx.db.uow() as uow:
        client = await uow.session.get(OAuthClient, client_id)
        if client is None:
            raise NotFound("No such client")
        if client.disabled_at is None:
            client.disabled_at = now
        await uow.session.execute(
            update(OAuthToken)
            .where(OAuthToken.client_id == client_id, OAuthToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        uow.audit(
            AuditEntry(
                actor=actor.ref,
                action="identity.client_disabled",
                object_type="oauth_client",
                object_id=client_id,
            )
        )
        await uow.commit()


async def new_client_secret(ctx: IdentityContext, actor: Principal, client_id: str) -> str:
    """Replace a confidential client's secret; the old one stops working at once."""
    require(actor, "identity.client.manage")
    secret = secrets.token_urlsafe(32)
    async with ctx.db.uow() as uow:
        client = await uow.session.get(OAuthClient, client_id)
        if client is None:
            raise NotFound("No such client")
        if client.public:
            raise ValidationFailed(errors=[FieldError(("client_id",), "A public client has no secret")])
        client.secret_hash = secret_digest(secret)
        uow.audit(
            AuditEntry(
                actor=actor.ref,
                action="identity.client_secret_replaced",
                object_type="oauth_client",
                object_id=client_id,
            )
        )
        await uow.commit()
    return secret


async def registered_scopes(ctx: IdentityContext) -> set[str]:
    """Every scope an active client may be granted (public metadata: the discovery document lists it)."""
    async with ctx.db.uow(readonly=True) as uow:
        rows = await uow.session.scalars(select(OAuthClient.scopes).where(OAuthClient.disabled_at.is_(None)))
        return {scope for row in rows for scope in (row or "").split()}
