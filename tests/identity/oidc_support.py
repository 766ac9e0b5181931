"""Helpers shared by the OpenID Connect provider's tests (plain functions; no fixtures here)."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
from httpx import AsyncClient, Response
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import func, select

from dgov.identity import login as login_uc
from dgov.identity import service
from dgov.identity.authz import SYSTEM
from dgov.identity.clients import NewClient, add_client
from dgov.identity.context import IdentityContext
from dgov.identity.models import Account, OAuthToken
from dgov.kernel import clock
from dgov.kernel.models import AuditRecord
from dgov.web.runtime import Runtime

PASSWORD = "lantern orchard velvet 1987"
REDIRECT = "https://rp.example/cb"
LOGOUT_REDIRECT = "https://rp.example/bye"


def identity(runtime: Runtime) -> IdentityContext:
    """The context the app will use (the same object, so both see the same secret and database)."""
    ctx = runtime.extras.get("identity")
    if ctx is None:
        ctx = runtime.extras["identity"] = IdentityContext(
            db=runtime.db, secret=runtime.secret, issuer=runtime.settings.issuer
        )
    assert isinstance(ctx, IdentityContext)
    return ctx


@dataclass
class Person:
    account: Account
    totp_secret: str | None


async def new_citizen(
    ctx: IdentityContext,
    *,
    id_number: str = "001090123456",
    full_name: str = "Nguyễn Văn An",
    birth_date: date = date(1990, 5, 1),
    sex: str = "M",
    second_factor: bool = True,
    email: str | None = "an.nguyen@example.vn",
    phone: str | None = "0912345678",
) -> Person:
    secret = pyotp.random_base32() if second_factor else None
    account = await service.add_citizen(
        ctx,
        SYSTEM,
        id_number=id_number,
        full_name=full_name,
        birth_date=birth_date,
        sex=sex,
        password=PASSWORD,
        totp_secret=secret,
        email=email,
        phone=phone,
    )
    return Person(account, secret)


async def new_rp(
    ctx: IdentityContext,
    *,
    client_id: str = "rp-health",
    name: str = "Cổng dịch vụ y tế",
    scopes: tuple[str, ...] = ("openid", "profile", "email", "phone", "vn_id_number", "offline_access"),
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token"),
    redirect_uris: tuple[str, ...] = (REDIRECT,),
    public: bool = False,
    sector: str | None = None,
    id_token_alg: str = "ES256",
) -> NewClient:
    return await add_client(
        ctx,
        SYSTEM,
        client_id=client_id,
        name=name,
        scopes=scopes,
        grant_types=grant_types,
        redirect_uris=redirect_uris,
        public=public,
        sector=sector,
        id_token_alg=id_token_alg,
        post_logout_redirect_uris=(LOGOUT_REDIRECT,),
    )


async def log_in(ctx: IdentityContext, http: AsyncClient, person: Person, *, level: int = 2) -> str:
    """Log in through the service layer and put the session cookie on the HTTP client."""
    step = await login_uc.password_step(
        ctx, identifier=person.account.id_number or "", password=PASSWORD, ip=None, user_agent=None
    )
    token = step.token
    if step.second_factor_required and level >= 2:
        assert person.totp_secret
        code = pyotp.TOTP(person.totp_secret).at(clock.now())
        token = await login_uc.second_factor_step(
            ctx, pending_token=token, code=code, ip=None, user_agent=None
        )
    http.cookies.set("dgov_session", token)
    return token


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def auth_params(client_id: str, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile",
        "state": secrets.token_urlsafe(12),
        "nonce": secrets.token_urlsafe(12),
    }
    params.update(extra)
    return {k: v for k, v in params.items() if v != ""}


async def authorize(http: AsyncClient, params: dict[str, str]) -> Response:
    return await http.get("/oauth/authorize?" + urlencode(params))


def consent_form(page: Response) -> tuple[str, str]:
    """(form action, CSRF token) of the consent page; the token field must come first in the form."""
    m = re.search(
        r'<form method="post" action="(/oauth/[^"]+)"[^>]*>\s*<input type="hidden" '
        r'name="csrftoken" value="([^"]+)">',
        page.text,
    )
    assert m, page.text
    return html.unescape(m.group(1)), m.group(2)


async def decide(http: AsyncClient, page: Response, *, approve: bool = True) -> Response:
    action, token = consent_form(page)
    field = "approve" if approve else "deny"
    return await http.post(action, data={"csrftoken": token, field: "1"})


def redirect_params(response: Response) -> dict[str, str]:
    assert response.status_code in (302, 303), (response.status_code, response.text)
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def get_code(http: AsyncClient, params: dict[str, str]) -> str:
    """Authorise (consenting if asked) and return the code, checking the state came back."""
    r = await authorize(http, params)
    if r.status_code == 200:
        r = await decide(http, r)
    got = redirect_params(r)
    assert got.get("state") == params["state"], got
    assert "code" in got, got
    return got["code"]


async def exchange(
    http: AsyncClient,
    code: str,
    *,
    client_id: str,
    secret: str | None,
    verifier: str | None = None,
    redirect_uri: str = REDIRECT,
) -> Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier:
        data["code_verifier"] = verifier
    if secret is None:
        data["client_id"] = client_id
        return await http.post("/oauth/token", data=data)
    return await http.post("/oauth/token", data=data, auth=(client_id, secret))


async def verify_id_token(http: AsyncClient, id_token: str, *, client_id: str, nonce: str) -> dict[str, Any]:
    issuer = (await http.get("/.well-known/openid-configuration")).json()["issuer"]
    jwks = KeySet.import_key_set((await http.get("/oauth/jwks")).json())
    token = jwt.decode(id_token, jwks, algorithms=["ES256", "RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
        nonce={"essential": True, "value": nonce},
    ).validate(token.claims)
    return {"header": token.header, **token.claims}


def at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


async def audit_records(ctx: IdentityContext, action: str) -> list[AuditRecord]:
    async with ctx.db.uow(readonly=True) as uow:
        return list(await uow.session.scalars(select(AuditRecord).where(AuditRecord.action == action)))


async def token_rows(ctx: IdentityContext) -> list[OAuthToken]:
    async with ctx.db.uow(readonly=True) as uow:
        return list(await uow.session.scalars(select(OAuthToken)))


async def count(ctx: IdentityContext, model: type[Any]) -> int:
    async with ctx.db.uow(readonly=True) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def userinfo(http: AsyncClient, access_token: str) -> Response:
    return await http.get("/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"})


async def full_flow(
    ctx: IdentityContext, http: AsyncClient, *, client_id: str, secret: str | None, **extra: str
) -> dict[str, Any]:
    """Code + PKCE + token exchange for a logged-in browser; returns the token response."""
    verifier, challenge = pkce_pair()
    params = auth_params(client_id, code_challenge=challenge, code_challenge_method="S256", **extra)
    code = await get_code(http, params)
    r = await exchange(http, code, client_id=client_id, secret=secret, verifier=verifier)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    body["_nonce"] = params["nonce"]
    return body
