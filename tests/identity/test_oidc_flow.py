"""The OpenID Connect provider end to end in-process, on SQLite and PostgreSQL: discovery, the code flow
with consent, ID tokens, userinfo, refresh rotation, client credentials, revocation, logout, pairwise
subjects and signing-key rotation."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from httpx import AsyncClient
from joserfc import jwt
from joserfc.jwk import KeySet
from oidc_support import (
    LOGOUT_REDIRECT,
    REDIRECT,
    at_hash,
    audit_records,
    auth_params,
    authorize,
    decide,
    exchange,
    full_flow,
    get_code,
    identity,
    log_in,
    new_citizen,
    new_rp,
    pkce_pair,
    redirect_params,
    userinfo,
    verify_id_token,
)

from dgov.identity import connections, sessions
from dgov.identity.authz import Principal
from dgov.identity.oidc import LEVEL1, LEVEL2, keys, rotate_signing_key
from dgov.kernel import clock
from dgov.kernel.clock import FrozenClock, SystemClock
from dgov.kernel.errors import Forbidden
from dgov.web.runtime import Runtime


@pytest.fixture
def frozen() -> Iterator[FrozenClock]:
    """Real time, standing still until moved (ID tokens stay valid for the verifier's real clock)."""
    fc = FrozenClock(SystemClock().now())
    previous = clock.set_clock(fc)
    yield fc
    clock.set_clock(previous)


async def test_discovery_document_names_every_endpoint(client: AsyncClient, runtime: Runtime) -> None:
    doc = (await client.get("/.well-known/openid-configuration")).json()
    issuer = runtime.settings.issuer
    assert doc["issuer"] == issuer
    for key, path in [
        ("authorization_endpoint", "/oauth/authorize"),
        ("token_endpoint", "/oauth/token"),
        ("userinfo_endpoint", "/oauth/userinfo"),
        ("jwks_uri", "/oauth/jwks"),
        ("end_session_endpoint", "/oauth/logout"),
        ("revocation_endpoint", "/oauth/revoke"),
    ]:
        assert doc[key] == issuer + path
    assert doc["subject_types_supported"] == ["pairwise"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["acr_values_supported"] == [LEVEL1, LEVEL2]
    assert "vn_id_number" in doc["scopes_supported"]
    jwks = (await client.get("/oauth/jwks")).json()
    # Every algorithm a client may choose has its key published before first use.
    assert sorted(k["alg"] for k in jwks["keys"]) == ["ES256", "RS256"]
    assert all("d" not in k for k in jwks["keys"]), "a private key part is published"


async def test_code_flow_with_consent_id_token_and_userinfo(client: AsyncClient, runtime: Runtime) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx)
    rp = await new_rp(ctx)
    assert rp.secret
    await log_in(ctx, client, person, level=2)
    verifier, challenge = pkce_pair()
    params = auth_params(
        "rp-health",
        scope="openid profile vn_id_number",
        acr_values=LEVEL2,
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    page = await authorize(client, params)
    assert page.status_code == 200, page.text
    # The consent screen says who asks, where the answer goes and exactly what is shared.
    assert "Cổng dịch vụ y tế" in page.text
    assert "rp.example" in page.text
    assert "Nguyễn Văn An" in page.text and "01/05/1990" in page.text and "001090123456" in page.text
    assert "an.nguyen@example.vn" not in page.text  # email was not asked for
    assert "form-action 'self' https://rp.example" in page.headers["content-security-policy"]
    got = redirect_params(await decide(client, page, approve=True))
    assert got["state"] == params["state"]
    r = await exchange(client, got["code"], client_id="rp-health", secret=rp.secret, verifier=verifier)
    assert r.status_code == 200, r.text
    tokens = r.json()
    assert tokens["token_type"] == "Bearer" and "refresh_token" not in tokens  # no offline_access asked
    assert r.headers["cache-control"] == "no-store"
    claims = await verify_id_token(client, tokens["id_token"], client_id="rp-health", nonce=params["nonce"])
    assert claims["header"]["alg"] == "ES256"
    assert claims["acr"] == LEVEL2
    assert claims["amr"] == ["pwd", "otp"]
    assert claims["at_hash"] == at_hash(tokens["access_token"])
    assert abs(claims["auth_time"] - time.time()) < 300
    assert "vn_id_number" not in claims and "name" not in claims  # claims come from userinfo
    info = await client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200, info.text
    assert info.json() == {
        "sub": claims["sub"],
        "name": "Nguyễn Văn An",
        "birthdate": "1990-05-01",
        "gender": "male",
        "vn_id_number": "001090123456",
    }
    for action in (
        "identity.oidc.consent_granted",
        "identity.oidc.code_issued",
        "identity.oidc.token_issued",
        "identity.oidc.userinfo_read",
    ):
        assert len(await audit_records(ctx, action)) == 1, action
    # Consent is remembered for these scopes: the next request answers at once, without a screen.
    again = auth_params("rp-health", scope="openid vn_id_number")
    assert "code" in redirect_params(await authorize(client, again))


async def test_public_client_uses_pkce_without_a_secret(client: AsyncClient, runtime: Runtime) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    rp = await new_rp(ctx, client_id="app-mobile", public=True, scopes=("openid", "profile"))
    assert rp.secret is None
    await log_in(ctx, client, person, level=1)
    tokens = await full_flow(ctx, client, client_id="app-mobile", secret=None)
    claims = await verify_id_token(client, tokens["id_token"], client_id="app-mobile", nonce=tokens["_nonce"])
    assert claims["acr"] == LEVEL1 and claims["amr"] == ["pwd"]
    assert (await userinfo(client, tokens["access_token"])).json()["name"] == "Nguyễn Văn An"


async def test_prompt_none_answers_login_required_or_consent_required(
    client: AsyncClient, runtime: Runtime
) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    await new_rp(ctx)
    params = auth_params("rp-health", prompt="none")
    got = redirect_params(await authorize(client, params))
    assert got["error"] == "login_required" and got["state"] == params["state"] and "code" not in got
    await log_in(ctx, client, person, level=1)
    got = redirect_params(await authorize(client, params))
    assert got["error"] == "consent_required"
    reasons = [r.details["reason"] for r in await audit_records(ctx, "identity.oidc.authorize_failed")]
    assert reasons[-1] == "consent_needed"
    # Without prompt=none a person who is not logged in is sent to log in, then back here.
    client.cookies.clear()
    r = await authorize(client, auth_params("rp-health"))
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Foauth%2Fauthorize%3F")


async def test_level_two_is_demanded_through_acr_values(client: AsyncClient, runtime: Runtime) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx)
    await new_rp(ctx)
    await log_in(ctx, client, person, level=1)  # password only: the second factor is still owed
    params = auth_params("rp-health", acr_values=LEVEL2)
    r = await authorize(client, params)
    assert r.status_code == 303
    login = urlsplit(r.headers["location"])
    query = parse_qs(login.query)
    assert login.path == "/login" and query["level"] == ["2"]
    assert query["next"][0].startswith("/oauth/authorize?") and "acr_values=" in query["next"][0]
    got = redirect_params(await authorize(client, {**params, "prompt": "none"}))
    assert got["error"] == "login_required"


async def test_level_one_login_is_reported_as_level_one(client: AsyncClient, runtime: Runtime) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    rp = await new_rp(ctx)
    await log_in(ctx, client, person, level=1)
    tokens = await full_flow(ctx, client, client_id="rp-health", secret=rp.secret)
    claims = await verify_id_token(client, tokens["id_token"], client_id="rp-health", nonce=tokens["_nonce"])
    assert claims["acr"] == LEVEL1


async def test_prompt_login_ends_the_session_and_asks_again(client: AsyncClient, runtime: Runtime) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    await new_rp(ctx)
    token = await log_in(ctx, client, person, level=1)
    r = await authorize(client, auth_params("rp-health", prompt="login consent"))
    assert r.status_code == 303
    nxt = parse_qs(urlsplit(r.headers["location"]).query)["next"][0]
    assert "prompt=consent" in nxt and "prompt=login" not in nxt  # no loop after the new login
    assert 'dgov_session=""' in r.headers["set-cookie"]
    assert await sessions.resolve(ctx, token) is None


async def test_max_age_forces_a_new_login_when_the_login_is_older(
    client: AsyncClient, runtime: Runtime, frozen: FrozenClock
) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    rp = await new_rp(ctx)
    await log_in(ctx, client, person, level=1)
    frozen.advance(timedelta(seconds=30))
    tokens = await full_flow(ctx, client, client_id="rp-health", secret=rp.secret, max_age="60")
    assert tokens["access_token"]
    frozen.advance(timedelta(seconds=61))
    r = await authorize(client, auth_params("rp-health", max_age="60"))
    assert r.status_code == 303 and r.headers["location"].startswith("/login?")
    assert "max_age" not in parse_qs(urlsplit(r.headers["location"]).query)["next"][0]


async def test_denying_consent_returns_access_denied(client: AsyncClient, runtime: Runtime) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    await new_rp(ctx)
    await log_in(ctx, client, person, level=1)
    params = auth_params("rp-health", scope="openid vn_id_number")
    page = await authorize(client, params)
    got = redirect_params(await decide(client, page, approve=False))
    assert got == {
        "error": "access_denied",
        "error_description": got["error_description"],
        "state": params["state"],
    }
    [denied] = await audit_records(ctx, "identity.oidc.consent_denied")
    assert denied.details["scopes"] == ["openid", "vn_id_number"]
    assert await audit_records(ctx, "identity.oidc.code_issued") == []
    # Consent was not remembered: the screen comes again.
    assert (await authorize(client, params)).status_code == 200


async def test_refresh_tokens_rotate_and_a_reused_one_ends_the_grant(
    client: AsyncClient, runtime: Runtime
) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    rp = await new_rp(ctx)
    assert rp.secret
    await log_in(ctx, client, person, level=1)
    first = await full_flow(
        ctx, client, client_id="rp-health", secret=rp.secret, scope="openid offline_access"
    )
    assert first["refresh_token"]

    async def refresh(token: str) -> dict[str, str]:
        r = await client.post(
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": token},
            auth=("rp-health", rp.secret or ""),
        )
        return {"status": str(r.status_code), **r.json()}

    second = await refresh(first["refresh_token"])
    assert second["status"] == "200" and second["refresh_token"] != first["refresh_token"]
    assert (await userinfo(client, first["access_token"])).status_code == 401  # replaced
    assert (await userinfo(client, second["access_token"])).status_code == 200
    assert len(await audit_records(ctx, "identity.oidc.token_refreshed")) == 1
    # The first refresh token comes back: someone kept a copy. The whole grant ends.
    replay = await refresh(first["refresh_token"])
    assert replay["status"] == "400" and replay["error"] == "invalid_grant"
    assert (await userinfo(client, second["access_token"])).status_code == 401
    assert (await refresh(second["refresh_token"]))["error"] == "invalid_grant"
    reasons = [r.details["reason"] for r in await audit_records(ctx, "identity.oidc.token_failed")]
    assert reasons[0] == "refresh_token_reused_grant_revoked"


async def test_client_credentials_for_an_agency_system(client: AsyncClient, runtime: Runtime) -> None:
    ctx = identity(runtime)
    agency = await new_rp(
        ctx,
        client_id="btp-registry",
        name="Bộ Tư pháp",
        scopes=("registry.read",),
        grant_types=("client_credentials",),
        redirect_uris=(),
    )
    assert agency.secret
    r = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=("btp-registry", agency.secret)
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scope"] == "registry.read" and "refresh_token" not in body and "id_token" not in body
    # A token with no person behind it reads nobody's userinfo.
    assert (await userinfo(client, body["access_token"])).status_code in (401, 403)
    form = {
        "grant_type": "client_credentials",
        "client_id": "btp-registry",
        "client_secret": agency.secret,
        "scope": "registry.read",
    }
    post = await client.post("/oauth/token", data=form)
    assert post.status_code == 200
    [issued, _second] = await audit_records(ctx, "identity.oidc.token_issued")
    assert issued.actor == "client:btp-registry" and issued.on_behalf_of is None


async def test_revocation_ends_the_grant(client: AsyncClient, runtime: Runtime) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    rp = await new_rp(ctx)
    other = await new_rp(ctx, client_id="rp-other", redirect_uris=("https://other.example/cb",))
    await log_in(ctx, client, person, level=1)
    tokens = await full_flow(
        ctx, client, client_id="rp-health", secret=rp.secret, scope="openid offline_access"
    )
    # Another client cannot revoke this client's token.
    r = await client.post(
        "/oauth/revoke", data={"token": tokens["access_token"]}, auth=("rp-other", other.secret or "")
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert (await userinfo(client, tokens["access_token"])).status_code == 200
    r = await client.post(
        "/oauth/revoke",
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        auth=("rp-health", rp.secret or ""),
    )
    assert r.status_code == 200
    assert (await userinfo(client, tokens["access_token"])).status_code == 401
    # Unknown tokens are answered the same way (RFC 7009 §2.2), and nothing is revoked.
    r = await client.post("/oauth/revoke", data={"token": "nope"}, auth=("rp-health", rp.secret or ""))
    assert r.status_code == 200
    [revoked] = await audit_records(ctx, "identity.oidc.token_revoked")
    assert revoked.actor == "client:rp-health"


async def test_withdrawing_consent_stops_the_tokens(client: AsyncClient, runtime: Runtime) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    rp = await new_rp(ctx)
    await log_in(ctx, client, person, level=1)
    tokens = await full_flow(ctx, client, client_id="rp-health", secret=rp.secret, scope="openid profile")
    actor = Principal(kind="citizen", account_id=person.account.id, level=1)
    [conn] = await connections.connections_of(ctx, actor)
    assert conn.client_id == "rp-health" and conn.scopes == ["openid", "profile"]
    await connections.revoke_connection(ctx, actor, client_id="rp-health")
    assert (await userinfo(client, tokens["access_token"])).status_code == 401
    assert (await authorize(client, auth_params("rp-health"))).status_code == 200  # asked again


async def test_rp_initiated_logout(client: AsyncClient, runtime: Runtime) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    rp = await new_rp(ctx)
    token = await log_in(ctx, client, person, level=1)
    tokens = await full_flow(ctx, client, client_id="rp-health", secret=rp.secret)
    # An address that is not registered exactly: log out, but never redirect there.
    r = await client.get(
        "/oauth/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "state": "s1",
            "post_logout_redirect_uri": LOGOUT_REDIRECT + "/x",
        },
    )
    assert r.status_code == 200 and "location" not in r.headers
    assert await sessions.resolve(ctx, token) is None
    token = await log_in(ctx, client, person, level=1)
    r = await client.get(
        "/oauth/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "state": "s2",
            "post_logout_redirect_uri": LOGOUT_REDIRECT,
        },
    )
    assert r.status_code == 302 and r.headers["location"] == LOGOUT_REDIRECT + "?state=s2"
    assert await sessions.resolve(ctx, token) is None
    assert len(await audit_records(ctx, "identity.oidc.logout")) == 2


async def test_logout_without_a_hint_asks_first(client: AsyncClient, runtime: Runtime) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    await new_rp(ctx)
    token = await log_in(ctx, client, person, level=1)
    page = await client.get(
        "/oauth/logout", params={"client_id": "rp-health", "post_logout_redirect_uri": LOGOUT_REDIRECT}
    )
    assert page.status_code == 200 and 'name="logout"' in page.text
    assert await sessions.resolve(ctx, token) is not None  # a link alone does not log anyone out
    action = re.search(r'action="(/oauth/logout[^"]*)"', page.text)
    assert action
    r = await client.post(
        action.group(1).replace("&amp;", "&"), data={"csrftoken": client.cookies["csrftoken"], "logout": "1"}
    )
    assert r.status_code == 200 and "location" not in r.headers  # no hint: no redirect
    assert await sessions.resolve(ctx, token) is None


async def test_pairwise_subjects_differ_between_clients_unless_they_share_a_sector(
    client: AsyncClient, runtime: Runtime
) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    a = await new_rp(ctx, client_id="rp-health", sector="health.example")
    b = await new_rp(ctx, client_id="rp-bank", name="Ngân hàng")  # its own sector: the default
    c = await new_rp(ctx, client_id="rp-health-2", name="Bệnh viện", sector="health.example")
    await log_in(ctx, client, person, level=1)

    async def sub(client_id: str, secret: str | None) -> str:
        tokens = await full_flow(ctx, client, client_id=client_id, secret=secret)
        claims = await verify_id_token(
            client, tokens["id_token"], client_id=client_id, nonce=tokens["_nonce"]
        )
        assert (await userinfo(client, tokens["access_token"])).json()["sub"] == claims["sub"]
        return str(claims["sub"])

    first, again = await sub("rp-health", a.secret), await sub("rp-health", a.secret)
    bank, sibling = await sub("rp-bank", b.secret), await sub("rp-health-2", c.secret)
    assert first == again == sibling
    assert bank != first
    assert str(person.account.id) not in (first, bank)


async def test_signing_key_rotation_keeps_old_tokens_verifiable(
    client: AsyncClient, runtime: Runtime, frozen: FrozenClock
) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    rp = await new_rp(ctx)
    await log_in(ctx, client, person, level=1)
    old = await full_flow(ctx, client, client_id="rp-health", secret=rp.secret)
    jwks = KeySet.import_key_set((await client.get("/oauth/jwks")).json())
    old_kid = jwt.decode(old["id_token"], jwks).header["kid"]
    operator = Principal(kind="operator", level=2)
    with pytest.raises(Forbidden):
        await rotate_signing_key(ctx, Principal(kind="operator", level=1))
    new_kid = await rotate_signing_key(ctx, operator)
    assert new_kid != old_kid
    published = {k["kid"] for k in (await client.get("/oauth/jwks")).json()["keys"] if k["alg"] == "ES256"}
    assert published == {old_kid, new_kid}
    await verify_id_token(client, old["id_token"], client_id="rp-health", nonce=old["_nonce"])
    new = await full_flow(ctx, client, client_id="rp-health", secret=rp.secret, prompt="")
    claims = await verify_id_token(client, new["id_token"], client_id="rp-health", nonce=new["_nonce"])
    assert claims["header"]["kid"] == new_kid
    [rotated] = await audit_records(ctx, "identity.oidc.signing_key_rotated")
    assert rotated.details["retired"] == [old_kid]
    # Once every token the old key signed has expired, it leaves the JWKS.
    frozen.advance(keys.ID_TOKEN_TTL + keys.PUBLISH_GRACE + timedelta(seconds=1))
    es256 = {k["kid"] for k in (await client.get("/oauth/jwks")).json()["keys"] if k["alg"] == "ES256"}
    assert es256 == {new_kid}


async def test_rs256_per_client(client: AsyncClient, runtime: Runtime) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    rp = await new_rp(ctx, id_token_alg="RS256")
    await log_in(ctx, client, person, level=1)
    tokens = await full_flow(ctx, client, client_id="rp-health", secret=rp.secret)
    claims = await verify_id_token(client, tokens["id_token"], client_id="rp-health", nonce=tokens["_nonce"])
    assert claims["header"]["alg"] == "RS256"
    assert sorted(k["kty"] for k in (await client.get("/oauth/jwks")).json()["keys"]) == ["EC", "RSA"]


async def test_redirect_uri_is_matched_exactly(client: AsyncClient, runtime: Runtime) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    await new_rp(ctx)
    await log_in(ctx, client, person, level=1)
    for wrong in (REDIRECT + "/", REDIRECT + "?x=1", REDIRECT.upper(), "https://rp.example/cb2"):
        r = await authorize(client, auth_params("rp-health", redirect_uri=wrong))
        assert r.status_code == 400 and "location" not in r.headers, wrong
    code = await get_code(client, auth_params("rp-health"))
    assert code


async def test_after_our_own_login_form_the_browser_leaves_through_a_page(
    client: AsyncClient, runtime: Runtime
) -> None:
    """Chromium checks a form's redirect chain against form-action: POST /login → /oauth/authorize →
    client would be blocked, so a same-origin navigation gets a page that moves on by itself."""
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    await new_rp(ctx)
    await log_in(ctx, client, person, level=1)
    await get_code(client, auth_params("rp-health"))  # consent is remembered from here on
    params = auth_params("rp-health")
    r = await client.get(
        "/oauth/authorize",
        params=params,
        headers={"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"},
    )
    assert r.status_code == 200 and "location" not in r.headers
    m = re.search(r'<meta http-equiv="refresh" content="0;url=([^"]+)">', r.text)
    assert m
    target = m.group(1).replace("&amp;", "&")
    assert target.startswith(REDIRECT + "?code=") and f"state={params['state']}" in target
    assert r.headers["cache-control"] == "no-store"
    # A link from the client's own site (cross-site) gets the plain redirect.
    r = await client.get(
        "/oauth/authorize",
        params=auth_params("rp-health"),
        headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"},
    )
    assert r.status_code == 302
