"""Issue 3 requirements of the OpenID Connect provider that the other OIDC tests left unproven: a nonce is
used once per client; refusals shown to a person are translated (Vietnamese first) and audited; the
personal ID number is shared only under its own scope, after a consent screen that names it; the
"connected applications" list on the account page withdraws a client's access.

Runs on SQLite and PostgreSQL, through the real app (CSRF and locale middleware included)."""

from __future__ import annotations

import html
import re

from httpx import AsyncClient
from oidc_support import (
    audit_records,
    auth_params,
    authorize,
    count,
    decide,
    exchange,
    full_flow,
    identity,
    log_in,
    new_citizen,
    new_rp,
    pkce_pair,
    redirect_params,
    userinfo,
)
from sqlalchemy import select

from dgov.identity.models import AuthorizationCode, Consent
from dgov.kernel.i18n import translations
from dgov.web.middleware import LANG_COOKIE
from dgov.web.runtime import Runtime

BANK = "https://bank.example/cb"
ID_NUMBER = "001090123456"  # oidc_support.new_citizen's default person


def vi(msgid: str) -> str:
    text = translations("vi").gettext(msgid)
    assert text != msgid, f"no Vietnamese for {msgid!r}"
    return text


def text_of(page: str) -> str:
    return html.unescape(page)


async def test_a_nonce_is_used_once_per_client(client: AsyncClient, runtime: Runtime) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    rp = await new_rp(ctx)
    await new_rp(ctx, client_id="rp-bank", name="Ngân hàng", redirect_uris=(BANK,))
    await log_in(ctx, client, person, level=1)
    await full_flow(ctx, client, client_id="rp-health", secret=rp.secret, nonce="same-nonce")
    codes = await count(ctx, AuthorizationCode)

    # The same nonce again for the same client is a replayed request: refused, no code.
    params = auth_params("rp-health", nonce="same-nonce")
    got = redirect_params(await authorize(client, params))
    assert got["error"] == "invalid_request" and "code" not in got
    assert got["state"] == params["state"]
    assert await count(ctx, AuthorizationCode) == codes
    [failure] = await audit_records(ctx, "identity.oidc.authorize_failed")
    assert failure.object_id == "rp-health" and failure.details["reason"] == "nonce_reused"

    # Nonces are the client's own values: another client may happen to choose the same one.
    r = await authorize(client, auth_params("rp-bank", nonce="same-nonce", redirect_uri=BANK))
    assert r.status_code == 200, r.text  # its consent screen, not a refusal


async def test_refusals_shown_to_a_person_are_translated_and_audited(
    client: AsyncClient, runtime: Runtime
) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    await new_rp(ctx)
    await log_in(ctx, client, person, level=1)
    unknown_title = "This service is not known to us"
    bad_request_title = "The sign-in request cannot be processed"

    r = await authorize(client, auth_params("no-such-client"))
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert vi(unknown_title) in text_of(r.text)
    r = await authorize(client, auth_params("rp-health", redirect_uri="https://evil.example/cb"))
    assert r.status_code == 400 and "location" not in r.headers
    assert vi(bad_request_title) in text_of(r.text)

    # English for a person who chose it.
    client.cookies.set(LANG_COOKIE, "en")
    try:
        r = await authorize(client, auth_params("no-such-client"))
        assert unknown_title in text_of(r.text) and vi(unknown_title) not in text_of(r.text)
        r = await authorize(client, auth_params("rp-health", redirect_uri="https://evil.example/cb"))
        assert bad_request_title in text_of(r.text)
    finally:
        client.cookies.delete(LANG_COOKIE)

    failed = await audit_records(ctx, "identity.oidc.authorize_failed")
    reasons = [(f.object_id, f.details["reason"]) for f in failed]
    assert reasons == [
        ("no-such-client", "unknown_client"),
        ("rp-health", "redirect_uri_not_registered"),
        ("no-such-client", "unknown_client"),
        ("rp-health", "redirect_uri_not_registered"),
    ]
    assert await count(ctx, AuthorizationCode) == 0


async def test_the_id_number_is_shared_only_under_its_scope_after_consent_naming_it(
    client: AsyncClient, runtime: Runtime
) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    rp = await new_rp(ctx)
    await log_in(ctx, client, person, level=1)
    id_label = vi("Personal identification number")

    # Without the scope: neither the consent screen nor userinfo carries the number.
    verifier, challenge = pkce_pair()
    params = auth_params(
        "rp-health", scope="openid profile", code_challenge=challenge, code_challenge_method="S256"
    )
    page = await authorize(client, params)
    assert page.status_code == 200, page.text
    assert ID_NUMBER not in page.text and id_label not in text_of(page.text)
    got = redirect_params(await decide(client, page))
    r = await exchange(client, got["code"], client_id="rp-health", secret=rp.secret, verifier=verifier)
    tokens = r.json()
    info = (await userinfo(client, tokens["access_token"])).json()
    assert "vn_id_number" not in info and info["name"] == "Nguyễn Văn An"

    # Asking for it later is a new question: the screen comes back, now naming the number.
    verifier, challenge = pkce_pair()
    params = auth_params(
        "rp-health",
        scope="openid profile vn_id_number",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    page = await authorize(client, params)
    assert page.status_code == 200, "consent to profile alone must not cover the ID number"
    shown = text_of(page.text)
    assert f"<dt>{id_label}</dt><dd>{ID_NUMBER}</dd>" in page.text, shown
    assert "Cổng dịch vụ y tế" in shown and "rp.example" in shown  # with whom, and where it goes
    got = redirect_params(await decide(client, page))
    r = await exchange(client, got["code"], client_id="rp-health", secret=rp.secret, verifier=verifier)
    tokens = r.json()
    assert (await userinfo(client, tokens["access_token"])).json()["vn_id_number"] == ID_NUMBER
    granted = await audit_records(ctx, "identity.oidc.consent_granted")
    assert [g.details["scopes"] for g in granted] == [
        ["openid", "profile"],
        ["openid", "profile", "vn_id_number"],
    ]


async def test_the_account_page_lists_connected_applications_and_stops_one(
    client: AsyncClient, runtime: Runtime
) -> None:
    ctx = identity(runtime)
    person = await new_citizen(ctx, second_factor=False)
    rp = await new_rp(ctx)
    await log_in(ctx, client, person, level=1)
    tokens = await full_flow(ctx, client, client_id="rp-health", secret=rp.secret, scope="openid profile")
    assert (await userinfo(client, tokens["access_token"])).status_code == 200

    account = await client.get("/account")
    assert account.status_code == 200
    assert "Cổng dịch vụ y tế" in text_of(account.text)
    action = "/account/connections/rp-health/revoke"
    form = re.search(rf'<form method="post" action="{re.escape(action)}".*?</form>', account.text, re.S)
    assert form, "no button to stop sharing with the connected application"
    r = await client.post(action, data={"csrftoken": client.cookies["csrftoken"]})
    assert r.status_code == 303 and r.headers["location"] == "/account?done=connection"

    after = text_of((await client.get("/account?done=connection")).text)
    assert vi("The application can no longer use your data.") in after
    assert vi("No application can use your data.") in after
    assert (await userinfo(client, tokens["access_token"])).status_code == 401
    assert len(await audit_records(ctx, "identity.consent_revoked")) == 1
    # The client has to ask again: consent was withdrawn, not just its tokens.
    assert (await authorize(client, auth_params("rp-health"))).status_code == 200
    async with ctx.db.uow(readonly=True) as uow:
        live = await uow.session.scalars(select(Consent).where(Consent.revoked_at.is_(None)))
        assert list(live) == []
