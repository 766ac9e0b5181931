"""Helpers for the registries' API and page tests (plain functions; fixtures live in the test modules):
people and records, OAuth clients and real tokens from the provider, logged-in officials and citizens."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
from httpx import AsyncClient
from sqlalchemy import select

from dgov.identity import SYSTEM
from dgov.identity import login as login_uc
from dgov.identity import service as id_service
from dgov.identity.clients import add_client
from dgov.identity.context import IdentityContext
from dgov.kernel import clock
from dgov.kernel.uow import Database
from dgov.registries.models import access_log
from dgov.web.runtime import Runtime

AN = "001090012345"  # Nguyễn Văn An, born 1990 in Hà Nội
BINH = "001190054321"  # Trần Thị Bình, born 1990
CITIZEN_PASSWORD = "dan-so-mot-lan-2026"
OFFICIAL_PASSWORD = "canbo-demo-2026!"
OFFICIAL_TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # a test seed, not a secret
REDIRECT = "https://app.example/cb"


def person(id_number: str = AN, name: str = "Nguyễn Văn An", **extra: Any) -> dict[str, Any]:
    surname, *middle, given = name.split()
    return {
        "id_number": id_number,
        "surname": surname,
        "middle_name": " ".join(middle),
        "given_name": given,
        "full_name": name,
        "birth_date": "1990-03-15",
        "sex": "M",
        "nationality": "VN",
        "status": "alive",
        "permanent_address": {"street": "1 Phố Đội Cấn", "commune_code": "00004", "province_code": "01"},
        **extra,
    }


def identity(runtime: Runtime) -> IdentityContext:
    """The context the app uses (the same object: same secret, same database, same issuer)."""
    ctx = runtime.extras.get("identity")
    if ctx is None:
        ctx = runtime.extras["identity"] = IdentityContext(
            db=runtime.db, secret=runtime.secret, issuer=runtime.settings.issuer
        )
    assert isinstance(ctx, IdentityContext)
    return ctx


async def client_token(
    http: AsyncClient, runtime: Runtime, client_id: str, scopes: tuple[str, ...], name: str = "Bộ Tư pháp"
) -> str:
    """Register an agency system (client credentials) and get an access token from /oauth/token."""
    new = await add_client(
        identity(runtime),
        SYSTEM,
        client_id=client_id,
        name=name,
        scopes=scopes,
        grant_types=("client_credentials",),
    )
    assert new.secret
    r = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, new.secret)
    )
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert isinstance(token, str)
    return token


async def log_in(runtime: Runtime, http: AsyncClient, identifier: str, password: str) -> None:
    """Log in through identity's use case and put the cookie on the client: with the one-time code
    (level 2) when the account has a second factor (`new_official`'s), else password only (level 1)."""
    step = await login_uc.password_step(
        identity(runtime), identifier=identifier, password=password, ip=None, user_agent=None
    )
    token = step.token
    if step.second_factor_required:
        code = pyotp.TOTP(OFFICIAL_TOTP).at(clock.now())
        token = await login_uc.second_factor_step(
            identity(runtime), pending_token=token, code=code, ip=None, user_agent=None
        )
    http.cookies.set("dgov_session", token)


async def new_official(
    runtime: Runtime,
    username: str = "canbo.dancu",
    role: str = "registry_officer",
    agency: str = "BCA",
    *,
    unit: str = "*",
    second_factor: bool = True,
) -> None:
    """By default a national official of the Ministry of Public Security with a second factor: reading
    personal data needs a level-2 login (registries.rules)."""
    await id_service.add_official(
        identity(runtime),
        SYSTEM,
        username=username,
        full_name="Lê Văn Cường",
        agency=agency,
        role=role,
        unit=unit,
        password=OFFICIAL_PASSWORD,
        totp_secret=OFFICIAL_TOTP if second_factor else None,
    )


async def new_citizen(runtime: Runtime, id_number: str = AN, full_name: str = "Nguyễn Văn An") -> None:
    await id_service.add_citizen(
        identity(runtime),
        SYSTEM,
        id_number=id_number,
        full_name=full_name,
        birth_date=date(1990, 3, 15),
        sex="M",
        password=CITIZEN_PASSWORD,
    )


async def person_token(http: AsyncClient, runtime: Runtime, scope: str, client_id: str = "app-mydata") -> str:
    """The authorization code flow with PKCE for the logged-in person: consent, code, token."""
    new = await add_client(
        identity(runtime),
        SYSTEM,
        client_id=client_id,
        name="Ứng dụng Dữ liệu của tôi",
        scopes=tuple(scope.split()),
        grant_types=("authorization_code",),
        redirect_uris=(REDIRECT,),
    )
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "s1",
        "nonce": "n1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    r = await http.get("/oauth/authorize?" + urlencode(params))
    if r.status_code == 200:  # the consent screen
        m = re.search(
            r'<form method="post" action="(/oauth/[^"]+)"[^>]*>\s*<input type="hidden" '
            r'name="csrftoken" value="([^"]+)">',
            r.text,
        )
        assert m, r.text
        r = await http.post(html.unescape(m.group(1)), data={"csrftoken": m.group(2), "approve": "1"})
    assert r.status_code in (302, 303), r.text
    code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
    r = await http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(client_id, new.secret or ""),
    )
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert isinstance(token, str)
    return token


async def access_rows(db: Database, subject: str) -> list[Any]:
    async with db.uow(readonly=True) as uow:
        query = select(access_log).where(access_log.c.subject_id == subject).order_by(access_log.c.at)
        return list((await uow.session.execute(query)).all())
