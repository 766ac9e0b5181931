"""Logging in to a relying party through dgov's OpenID Connect provider, in the machine's Chromium.

The demo relying party (`demo-rp`) builds its authorisation request with Authlib's own client (code + PKCE
S256, `acr_values` demanding level 2); the browser follows it to the real server, logs in with password and
TOTP, approves the consent screen, and lands on the client's callback. Nothing listens at the callback
address: the test fulfils that navigation itself, so no request leaves the machine. The code is then
exchanged by Authlib's client over httpx, and the ID token checked against the published JWKS.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from pagelog import PageLog
from playwright.async_api import Page, expect
from test_identity_browser import assert_clean, citizen, enter_code, log_in_with_password
from test_shell import assert_landmarks
from totpcodes import TotpCodes

from dgov.identity import demo
from dgov.identity.oidc import LEVEL2

with warnings.catch_warnings():
    # Authlib 1.9 warns when it finds httpx rather than its successor httpx2 (not installed here).
    # Its deprecate module installs an "always" filter on import: import it first, then override.
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client

pytestmark = pytest.mark.browser

ID_NUMBER = "001090012345"
SCOPES = "openid profile vn_id_number"
CALLBACK_ORIGIN = "http://127.0.0.1:8001"
assert demo.RP_REDIRECT.startswith(CALLBACK_ORIGIN + "/")
CALLBACK_PAGE = "<!doctype html><html lang='en'><title>Callback</title><p>Relying party callback</p></html>"


async def answer_callbacks(page: Page) -> list[str]:
    """Nothing listens at the client's address: answer its callback in the browser, keeping each URL.

    `page.route` cannot do it: Playwright calls a route's handler only for the first URL of a redirect
    chain, and the callback is reached by the provider's redirect after the consent form is posted. The
    DevTools Fetch domain pauses every request matching its pattern, redirected ones included."""
    callbacks: list[str] = []
    cdp = await page.context.new_cdp_session(page)

    async def fulfil(event: dict[str, Any]) -> None:
        callbacks.append(event["request"]["url"])
        await cdp.send(
            "Fetch.fulfillRequest",
            {
                "requestId": event["requestId"],
                "responseCode": 200,
                "responseHeaders": [{"name": "Content-Type", "value": "text/html; charset=utf-8"}],
                "body": base64.b64encode(CALLBACK_PAGE.encode()).decode(),
            },
        )

    cdp.on("Fetch.requestPaused", fulfil)
    pattern = {"urlPattern": CALLBACK_ORIGIN + "/*", "requestStage": "Request"}
    await cdp.send("Fetch.enable", {"patterns": [pattern]})
    return callbacks


def relying_party() -> OAuth2Client:
    return OAuth2Client(
        demo.RP_CLIENT_ID,
        demo.RP_SECRET,
        scope=SCOPES,
        redirect_uri=demo.RP_REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
        timeout=15,
    )


async def test_demo_relying_party_logs_in_at_level_two_with_consent(
    page: Page, page_log: PageLog, server: str, screenshots: Path, totp_codes: TotpCodes
) -> None:
    name, seed = citizen(ID_NUMBER)
    assert seed is not None
    async with httpx.AsyncClient(base_url=server, timeout=15) as http:
        meta = (await http.get("/.well-known/openid-configuration")).json()
        jwks = KeySet.import_key_set((await http.get("/oauth/jwks")).json())
    # The browser-test server's issuer is its configured address, not the free port it was started on:
    # the endpoints are reached on the port, the claims are checked against the published issuer.
    assert urlsplit(meta["authorization_endpoint"]).path == "/oauth/authorize"
    assert urlsplit(meta["token_endpoint"]).path == "/oauth/token"

    rp = relying_party()
    try:
        verifier = secrets.token_urlsafe(48)
        nonce = secrets.token_urlsafe(16)
        url, state = rp.create_authorization_url(
            f"{server}/oauth/authorize", code_verifier=verifier, nonce=nonce, acr_values=LEVEL2
        )
        query = parse_qs(urlsplit(url).query)
        assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0] != verifier

        callbacks = await answer_callbacks(page)

        # Not logged in: the provider sends the browser to log in, saying level 2 is needed.
        await page.goto(url)
        await expect(page).to_have_url(re.compile(r"/login\?.*level=2"))
        await expect(page.locator(".notice")).to_be_visible()
        await log_in_with_password(page, ID_NUMBER, demo.CITIZEN_PASSWORD)
        # The demo journey in test_identity_browser may have used this account's current code a moment
        # ago, and a code is accepted once: the book then hands out the next step's code.
        await enter_code(page, totp_codes.next(seed))

        # Back at the provider, at level 2: the consent screen names the client and what it receives.
        await expect(page).to_have_url(re.compile(r"/oauth/authorize\?"))
        await assert_landmarks(page)
        await expect(page.locator("html")).to_have_attribute("lang", "vi")
        heading = page.get_by_role("heading", level=1)
        await expect(heading).to_contain_text("Ứng dụng thử nghiệm (demo)")
        shared = page.locator("section[aria-labelledby=shared-title]")
        id_line = shared.locator(".summary-list > div").filter(has_text=ID_NUMBER)
        await expect(id_line.locator("dt")).to_have_text("Số định danh cá nhân")
        await expect(id_line.locator("dd")).to_have_text(ID_NUMBER)
        await expect(shared).to_contain_text(name)
        # Exactly what the three scopes release: the profile and the ID number with their values, and an
        # identifier that differs for every organisation.
        await expect(shared.locator(".summary-list > div")).to_have_count(4)
        await expect(shared.locator(".consent-extra > li")).to_have_text(
            ["Mã định danh của bạn, khác nhau đối với từng tổ chức"]
        )
        await expect(page.get_by_role("button", name=re.compile("^(Allow|Đồng ý)$"))).to_have_attribute(
            "name", "approve"
        )
        assert await page_log.csp_violations(page) == [], "CSP violations on the consent page"
        await page.mouse.move(0, 0)
        await page.screenshot(path=str(screenshots / "consent-vi.png"), full_page=True)

        async with page.expect_navigation(url=re.compile("^" + re.escape(demo.RP_REDIRECT) + r"\?")):
            await page.locator("button[name=approve]").click()
        # Everything the browser asked of the client's address (a favicon too, perhaps) was answered here.
        landed = [u for u in callbacks if u.startswith(demo.RP_REDIRECT + "?")]
        assert len(landed) == 1, callbacks
        callback = landed[0]
        got = parse_qs(urlsplit(callback).query)
        assert got["state"] == [state]
        assert len(got["code"]) == 1 and got["code"][0]
        assert "error" not in got
        await assert_clean(page, page_log)

        # The relying party's back channel: Authlib's client exchanges the code with the PKCE verifier.
        token: dict[str, Any] = await asyncio.to_thread(
            rp.fetch_token,
            f"{server}/oauth/token",
            authorization_response=callback,
            code_verifier=verifier,
            state=state,
        )
    finally:
        rp.close()
    assert token["token_type"] == "Bearer"
    assert set(token["scope"].split()) == set(SCOPES.split())

    id_token = jwt.decode(token["id_token"], jwks, algorithms=meta["id_token_signing_alg_values_supported"])
    assert id_token.header["alg"] == "ES256"
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": meta["issuer"]},
        aud={"essential": True, "value": demo.RP_CLIENT_ID},
        exp={"essential": True},
        sub={"essential": True},
        nonce={"essential": True, "value": nonce},
        acr={"essential": True, "value": LEVEL2},
    ).validate(id_token.claims)
    assert id_token.claims["amr"] == ["pwd", "otp"]
    assert "vn_id_number" not in id_token.claims
    # The ID number is released under its own scope, to the access token, never to the ID token.
    async with httpx.AsyncClient(base_url=server, timeout=15) as http:
        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        info = await http.get("/oauth/userinfo", headers=bearer)
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == id_token.claims["sub"]
    assert info.json()["vn_id_number"] == ID_NUMBER
