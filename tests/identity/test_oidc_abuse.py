"""Attacks on the OpenID Connect provider: each one fails, grants nothing, and leaves an audit record
naming what went wrong. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from httpx import AsyncClient
from oidc_support import (
    LOGOUT_REDIRECT,
    REDIRECT,
    audit_records,
    auth_params,
    authorize,
    count,
    exchange,
    full_flow,
    get_code,
    identity,
    log_in,
    new_citizen,
    new_rp,
    pkce_pair,
    redirect_params,
    token_rows,
    userinfo,
)

from dgov.identity.authz import SYSTEM
from dgov.identity.clients import disable_client
from dgov.identity.context import IdentityContext
from dgov.identity.models import AuthorizationCode, OAuthToken
from dgov.kernel import clock
from dgov.kernel.clock import FrozenClock, SystemClock
from dgov.web.runtime import Runtime


@pytest.fixture
def frozen() -> Iterator[FrozenClock]:
    fc = FrozenClock(SystemClock().now())
    previous = clock.set_clock(fc)
    yield fc
    clock.set_clock(previous)


async def failures(ctx: IdentityContext, endpoint: str) -> list[dict[str, str]]:
    return [
        {"client": r.object_id, "actor": r.actor, **r.details}
        for r in await audit_records(ctx, f"identity.oidc.{endpoint}_failed")
    ]


async def live_tokens(ctx: IdentityContext) -> int:
    rows = await token_rows(ctx)
    return sum(1 for r in rows if r.revoked_at is None)


@pytest.fixture
async def setup(client: AsyncClient, runtime: Runtime) -> tuple[IdentityContext, str]:
    """A logged-in person (level 1) and a confidential client rp-health; returns (ctx, secret)."""
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    rp = await new_rp(ctx, scopes=("openid", "profile", "offline_access"))
    assert rp.secret
    await log_in(ctx, client, person, level=1)
    return ctx, rp.secret


async def test_unregistered_redirect_uri_gets_a_page_not_a_redirect(
    client: AsyncClient, setup: tuple[IdentityContext, str]
) -> None:
    ctx, _secret = setup
    r = await authorize(client, auth_params("rp-health", redirect_uri="https://evil.example/cb"))
    assert r.status_code == 400 and "location" not in r.headers
    assert r.headers["content-type"].startswith("text/html")
    assert "evil.example" not in r.text
    assert await count(ctx, AuthorizationCode) == 0
    [f] = await failures(ctx, "authorize")
    assert f["reason"] == "redirect_uri_not_registered" and f["client"] == "rp-health"
    # Missing entirely: OpenID Connect has no default redirect URI.
    r = await authorize(client, auth_params("rp-health", redirect_uri=""))
    assert r.status_code == 400 and "location" not in r.headers
    assert (await failures(ctx, "authorize"))[-1]["reason"] == "redirect_uri_missing"


async def test_unknown_or_disabled_client_gets_a_page(
    client: AsyncClient, setup: tuple[IdentityContext, str]
) -> None:
    ctx, _secret = setup
    r = await authorize(client, auth_params("no-such-client"))
    assert r.status_code == 400 and "location" not in r.headers
    assert "<html" in r.text
    await disable_client(ctx, SYSTEM, "rp-health")
    r = await authorize(client, auth_params("rp-health"))
    assert r.status_code == 400 and "location" not in r.headers
    assert [f["reason"] for f in await failures(ctx, "authorize")] == ["unknown_client", "unknown_client"]
    assert await count(ctx, AuthorizationCode) == 0


async def test_scope_not_allowed_for_the_client(
    client: AsyncClient, setup: tuple[IdentityContext, str]
) -> None:
    ctx, _secret = setup
    params = auth_params("rp-health", scope="openid profile vn_id_number")
    got = redirect_params(await authorize(client, params))
    assert got["error"] == "invalid_scope" and got["state"] == params["state"] and "code" not in got
    got = redirect_params(await authorize(client, auth_params("rp-health", scope="profile")))
    assert got["error"] == "invalid_scope"  # an OpenID Connect request must carry openid
    assert await count(ctx, AuthorizationCode) == 0
    reasons = [f["reason"] for f in await failures(ctx, "authorize")]
    assert reasons == ["scope_not_allowed", "openid_scope_missing"]


async def test_public_client_without_pkce_or_with_plain(client: AsyncClient, runtime: Runtime) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    await new_rp(ctx, client_id="app-mobile", public=True, scopes=("openid",))
    await log_in(ctx, client, person, level=1)
    got = redirect_params(await authorize(client, auth_params("app-mobile", scope="openid")))
    assert got["error"] == "invalid_request" and "code" not in got
    verifier, _challenge = pkce_pair()
    plain = auth_params("app-mobile", scope="openid", code_challenge=verifier, code_challenge_method="plain")
    assert redirect_params(await authorize(client, plain))["error"] == "invalid_request"
    assert await count(ctx, AuthorizationCode) == 0
    reasons = [f["reason"] for f in await failures(ctx, "authorize")]
    assert reasons == ["pkce_missing", "pkce_method_not_s256"]


async def test_pkce_mismatch_or_missing_verifier_at_the_token_endpoint(
    client: AsyncClient, runtime: Runtime
) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    await new_rp(ctx, client_id="app-mobile", public=True, scopes=("openid",))
    await log_in(ctx, client, person, level=1)
    verifier, challenge = pkce_pair()
    params = auth_params("app-mobile", scope="openid", code_challenge=challenge, code_challenge_method="S256")
    code = await get_code(client, params)
    other_verifier, _ = pkce_pair()
    r = await exchange(client, code, client_id="app-mobile", secret=None, verifier=other_verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    # The code was spent by the failed attempt: even the right verifier cannot use it now.
    r = await exchange(client, code, client_id="app-mobile", secret=None, verifier=verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    code = await get_code(client, {**params, "state": "s2", "nonce": "n2"})
    r = await exchange(client, code, client_id="app-mobile", secret=None)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert await count(ctx, OAuthToken) == 0
    reasons = [f["reason"] for f in await failures(ctx, "token")]
    assert reasons == ["pkce_mismatch", "code_replayed", "pkce_missing"]


async def test_replayed_code_fails_and_revokes_what_it_gave(
    client: AsyncClient, setup: tuple[IdentityContext, str]
) -> None:
    ctx, secret = setup
    verifier, challenge = pkce_pair()
    params = auth_params("rp-health", code_challenge=challenge, code_challenge_method="S256")
    code = await get_code(client, params)
    first = await exchange(client, code, client_id="rp-health", secret=secret, verifier=verifier)
    assert first.status_code == 200
    access = first.json()["access_token"]
    assert (await userinfo(client, access)).status_code == 200
    replay = await exchange(client, code, client_id="rp-health", secret=secret, verifier=verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert "access_token" not in replay.json()
    assert (await userinfo(client, access)).status_code == 401
    assert await live_tokens(ctx) == 0
    assert (await failures(ctx, "token"))[0]["reason"] == "code_replayed_tokens_revoked"


async def test_expired_code(
    client: AsyncClient, setup: tuple[IdentityContext, str], frozen: FrozenClock
) -> None:
    ctx, secret = setup
    code = await get_code(client, auth_params("rp-health"))
    frozen.advance(timedelta(seconds=61))
    r = await exchange(client, code, client_id="rp-health", secret=secret)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert await count(ctx, OAuthToken) == 0
    assert [f["reason"] for f in await failures(ctx, "token")] == ["code_expired"]


async def test_code_bound_to_its_client_and_redirect_uri(client: AsyncClient, runtime: Runtime) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    rp = await new_rp(ctx, redirect_uris=(REDIRECT, REDIRECT + "2"))
    thief = await new_rp(ctx, client_id="rp-thief", redirect_uris=(REDIRECT,))
    await log_in(ctx, client, person, level=1)
    code = await get_code(client, auth_params("rp-health"))
    r = await exchange(client, code, client_id="rp-thief", secret=thief.secret)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = await exchange(client, code, client_id="rp-health", secret=rp.secret, redirect_uri=REDIRECT + "2")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert await count(ctx, OAuthToken) == 0
    reasons = [f["reason"] for f in await failures(ctx, "token")]
    assert reasons[0] == "unknown_code"


async def test_wrong_client_secret(client: AsyncClient, setup: tuple[IdentityContext, str]) -> None:
    ctx, secret = setup
    code = await get_code(client, auth_params("rp-health"))
    r = await exchange(client, code, client_id="rp-health", secret=secret + "x")
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert r.headers["www-authenticate"].startswith("Basic")
    # Posting the id without the secret does not make a confidential client public.
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    r = await client.post("/oauth/token", data={**form, "client_id": "rp-health"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert await count(ctx, OAuthToken) == 0
    fails = await failures(ctx, "token")
    assert [f["error"] for f in fails] == ["invalid_client", "invalid_client"]
    assert fails[0]["client"] == "rp-health" and fails[0]["actor"] == "anonymous"
    # The code was never presented to an authenticated client, so it still works.
    assert (await exchange(client, code, client_id="rp-health", secret=secret)).status_code == 200


async def test_grant_type_not_registered_for_the_client(
    client: AsyncClient, setup: tuple[IdentityContext, str]
) -> None:
    ctx, secret = setup
    form = {"grant_type": "client_credentials"}
    r = await client.post("/oauth/token", data=form, auth=("rp-health", secret))
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"
    form = {"grant_type": "password", "username": "x", "password": "y"}
    r = await client.post("/oauth/token", data=form, auth=("rp-health", secret))
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    assert await count(ctx, OAuthToken) == 0
    errors = [f["error"] for f in await failures(ctx, "token")]
    assert errors == ["unauthorized_client", "unsupported_grant_type"]


async def test_tampered_tokens_at_userinfo(client: AsyncClient, setup: tuple[IdentityContext, str]) -> None:
    ctx, secret = setup
    tokens = await full_flow(ctx, client, client_id="rp-health", secret=secret)
    access = tokens["access_token"]
    tampered = access[:-2] + ("AA" if not access.endswith("AA") else "BB")
    for bearer in (tampered, tokens["id_token"], tokens["id_token"][:-4] + "AAAA"):
        r = await userinfo(client, bearer)
        assert r.status_code == 401 and r.json()["error"] == "invalid_token"
        assert r.headers["www-authenticate"].startswith("Bearer")
    r = await client.get("/oauth/userinfo")
    assert r.status_code == 401
    fails = await failures(ctx, "userinfo")
    assert [f["reason"] for f in fails[:3]] == ["unknown_access_token"] * 3
    assert len(fails) == 4
    assert (await userinfo(client, access)).status_code == 200  # the real one still works


async def test_tampered_id_token_hint_at_logout_never_redirects(
    client: AsyncClient, setup: tuple[IdentityContext, str]
) -> None:
    ctx, secret = setup
    tokens = await full_flow(ctx, client, client_id="rp-health", secret=secret)
    head, body, sig = tokens["id_token"].split(".")
    forged = f"{head}.{body}.{sig[:-4]}AAAA"
    params = {"id_token_hint": forged, "post_logout_redirect_uri": LOGOUT_REDIRECT, "state": "x"}
    r = await client.get("/oauth/logout", params=params)
    assert r.status_code == 200 and "location" not in r.headers
    assert 'name="logout"' in r.text  # asks, because nothing proves the request came from the client
    assert len(await failures(ctx, "logout")) == 1


async def test_refresh_token_of_another_client_or_without_offline_access(
    client: AsyncClient, setup: tuple[IdentityContext, str]
) -> None:
    ctx, secret = setup
    other = await new_rp(ctx, client_id="rp-other", redirect_uris=("https://other.example/cb",))
    tokens = await full_flow(ctx, client, client_id="rp-health", secret=secret, scope="openid offline_access")
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    r = await client.post("/oauth/token", data=form, auth=("rp-other", other.secret or ""))
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    no_offline = await full_flow(ctx, client, client_id="rp-health", secret=secret, scope="openid")
    assert "refresh_token" not in no_offline
    r = await client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "garbage"},
        auth=("rp-health", secret),
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert [f["reason"] for f in await failures(ctx, "token")][-1] == "unknown_refresh_token"


async def test_unknown_client_at_the_token_endpoint(
    client: AsyncClient, setup: tuple[IdentityContext, str]
) -> None:
    ctx, _secret = setup
    code = await get_code(client, auth_params("rp-health"))
    r = await exchange(client, code, client_id="rp-unknown", secret="whatever")
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await exchange(client, code, client_id="rp-unknown", secret=None)
    assert r.status_code == 400 and r.json()["error"] == "invalid_client"
    assert await count(ctx, OAuthToken) == 0
    assert [f["client"] for f in await failures(ctx, "token")] == ["rp-unknown", "rp-unknown"]
