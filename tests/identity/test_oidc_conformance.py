"""One test per MUST of OpenID Connect / OAuth 2.0 that an independent client found broken (issue 13,
items 5 and 6): each written from the specification's words, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator

import pytest
from httpx import AsyncClient
from oidc_support import (
    LOGOUT_REDIRECT,
    REDIRECT,
    audit_records,
    auth_params,
    authorize,
    full_flow,
    identity,
    log_in,
    new_citizen,
    new_rp,
    redirect_params,
    token_rows,
)

from dgov.identity import sessions
from dgov.identity.authz import SYSTEM
from dgov.identity.clients import NewClient, add_client
from dgov.identity.context import IdentityContext
from dgov.kernel import clock
from dgov.kernel.clock import FrozenClock, SystemClock
from dgov.web.runtime import Runtime


async def agency_system(ctx: IdentityContext) -> NewClient:
    """An agency's system with a client-credentials grant and a registry scope (no person scopes)."""
    return await add_client(
        ctx,
        SYSTEM,
        client_id="agency-system",
        name="Hệ thống cơ quan",
        scopes=("registry.population.read",),
        grant_types=("client_credentials",),
        redirect_uris=(),
        public=False,
    )


@pytest.fixture(autouse=True)
def frozen() -> Iterator[FrozenClock]:
    fc = FrozenClock(SystemClock().now())
    previous = clock.set_clock(fc)
    yield fc
    clock.set_clock(previous)


async def test_userinfo_accepts_post(client: AsyncClient, runtime: Runtime) -> None:
    """OIDC Core §5.3.1: "The Client MUST use HTTP GET or HTTP POST" — so both must work."""
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    rp = await new_rp(ctx)
    await log_in(ctx, client, person, level=1)
    tokens = await full_flow(ctx, client, client_id="rp-health", secret=rp.secret)
    client.cookies.clear()  # a relying party's server has no browser cookies
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    got = await client.get("/oauth/userinfo", headers=headers)
    posted = await client.post("/oauth/userinfo", headers=headers)
    assert got.status_code == posted.status_code == 200, posted.text
    assert posted.json() == got.json()
    assert posted.json()["name"] == "Nguyễn Văn An"
    assert len(await audit_records(ctx, "identity.oidc.userinfo_read")) == 2


async def test_rp_initiated_logout_accepts_post_from_the_relying_party(
    client: AsyncClient, runtime: Runtime
) -> None:
    """RP-Initiated Logout §2: "OPs MUST support the use of the HTTP GET and POST methods". The RP's
    form carries no CSRF token of ours; a valid id_token_hint for this person logs out and redirects."""
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    rp = await new_rp(ctx)
    session_token = await log_in(ctx, client, person, level=1)
    tokens = await full_flow(ctx, client, client_id="rp-health", secret=rp.secret)
    r = await client.post(
        "/oauth/logout",
        data={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": LOGOUT_REDIRECT,
            "state": "p1",
        },
    )
    assert r.status_code == 302, r.text
    assert r.headers["location"] == LOGOUT_REDIRECT + "?state=p1"
    assert await sessions.resolve(ctx, session_token) is None


async def test_a_posted_logout_without_a_hint_only_asks(client: AsyncClient, runtime: Runtime) -> None:
    """The CSRF exemption must not let another site log a person out: a cross-site POST (no CSRF token)
    claiming to confirm is shown the confirmation page and ends nothing."""
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    await new_rp(ctx)
    session_token = await log_in(ctx, client, person, level=1)
    r = await client.post("/oauth/logout", data={"client_id": "rp-health", "logout": "1"})
    assert r.status_code == 200 and 'name="logout"' in r.text
    assert await sessions.resolve(ctx, session_token) is not None
    # The confirmation path itself stays CSRF-protected.
    forged = await client.post("/oauth/logout/confirm", data={"logout": "1"})
    assert forged.status_code == 403
    assert await sessions.resolve(ctx, session_token) is not None
    action = re.search(r'action="(/oauth/logout/confirm[^"]*)"', r.text)
    assert action, r.text
    done = await client.post(
        action.group(1).replace("&amp;", "&"), data={"csrftoken": client.cookies["csrftoken"], "logout": "1"}
    )
    assert done.status_code == 200
    assert await sessions.resolve(ctx, session_token) is None


@pytest.mark.parametrize(
    ("param", "error"),
    [
        ("request", "request_not_supported"),
        ("request_uri", "request_uri_not_supported"),
    ],
)
async def test_request_objects_are_refused_not_ignored(
    client: AsyncClient, runtime: Runtime, param: str, error: str
) -> None:
    """OIDC Core §6.1/§6.2 with `request_parameter_supported: false`: the error goes back to the client;
    no code is issued (ignoring it would drop e.g. the max_age it carries)."""
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    await new_rp(ctx)
    await log_in(ctx, client, person, level=1)
    value = "eyJhbGciOiJub25lIn0.eyJtYXhfYWdlIjoxfQ." if param == "request" else "https://rp.example/r/1"
    r = await authorize(client, auth_params("rp-health", **{param: value}))
    got = redirect_params(r)
    assert got["error"] == error
    assert "code" not in got
    assert await token_rows(ctx) == []


async def test_no_token_gets_a_challenge_without_an_error_code(client: AsyncClient) -> None:
    """RFC 6750 §3.1: "If the request lacks any authentication information ... the resource server
    SHOULD NOT include an error code". Authlib's `missing_authorization` is not a registered code."""
    r = await client.get("/oauth/userinfo")
    assert r.status_code == 401
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith("Bearer") and "error=" not in challenge, challenge
    bad = await client.get("/oauth/userinfo", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]


async def test_insufficient_scope_is_403_with_a_challenge(client: AsyncClient, runtime: Runtime) -> None:
    """RFC 6750 §3.1: a token without the scope a resource needs → 403 and `insufficient_scope`. An
    agency system's client-credentials token carries no `openid`, so userinfo is out of its scope."""
    ctx = identity(runtime)
    made = await agency_system(ctx)
    token = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "registry.population.read"},
        auth=("agency-system", made.secret),
    )
    assert token.status_code == 200, token.text
    r = await client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
    )
    assert r.status_code == 403, r.text
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]


async def test_revocation_ignores_an_unknown_token_type_hint(client: AsyncClient, runtime: Runtime) -> None:
    """RFC 7009 §2.1: a server that cannot use the hint extends its search to every token type; so an
    unknown hint still revokes the token (200), never 401 or an error."""
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    rp = await new_rp(ctx)
    await log_in(ctx, client, person, level=1)
    tokens = await full_flow(ctx, client, client_id="rp-health", secret=rp.secret)
    r = await client.post(
        "/oauth/revoke",
        data={"token": tokens["access_token"], "token_type_hint": "some_future_type"},
        auth=("rp-health", rp.secret),
    )
    assert r.status_code == 200, r.text
    rows = await token_rows(ctx)
    assert len(rows) == 1 and rows[0].revoked_at is not None


async def test_a_token_request_without_grant_type_is_invalid_request(
    client: AsyncClient, runtime: Runtime
) -> None:
    """RFC 6749 §5.2: a request missing a required parameter is `invalid_request`."""
    ctx = identity(runtime)
    rp = await new_rp(ctx)
    r = await client.post(
        "/oauth/token", data={"code": "x", "redirect_uri": REDIRECT}, auth=("rp-health", rp.secret)
    )
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"
    unknown = await client.post(
        "/oauth/token", data={"grant_type": "password"}, auth=("rp-health", rp.secret)
    )
    assert unknown.json()["error"] == "unsupported_grant_type"


async def test_every_signing_key_is_published_before_its_first_use(
    client: AsyncClient, runtime: Runtime
) -> None:
    """A relying party caches the JWKS (we say max-age=300): the RS256 key of a client that asks for
    RS256 must already be in the JWKS it fetched before its first token, not appear with that token."""
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    rp = await new_rp(ctx, client_id="rp-rsa", id_token_alg="RS256")
    before = (await client.get("/oauth/jwks")).json()
    assert sorted(k["alg"] for k in before["keys"]) == ["ES256", "RS256"]
    await log_in(ctx, client, person, level=1)
    tokens = await full_flow(ctx, client, client_id="rp-rsa", secret=rp.secret)
    header_kid = _kid(tokens["id_token"])
    assert header_kid in {k["kid"] for k in before["keys"] if k["alg"] == "RS256"}


def _kid(jws: str) -> str:
    head = jws.split(".")[0]
    kid: str = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]
    return kid


async def test_discovery_lists_every_scope_a_client_may_be_granted(
    client: AsyncClient, runtime: Runtime
) -> None:
    ctx = identity(runtime)
    await agency_system(ctx)
    doc = (await client.get("/.well-known/openid-configuration")).json()
    assert {"openid", "offline_access", "vn_id_number", "registry.population.read"} <= set(
        doc["scopes_supported"]
    )
