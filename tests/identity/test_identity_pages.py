"""Identity pages through the real app (CSRF, locale, error pages included) on both databases: the login
form and its public field names, field errors, the second-factor step, logout, the account page, TOTP
enrolment, the operator page and its level-2 requirement."""

from __future__ import annotations

import html
import re
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from httpx import AsyncClient, Response
from idkit import OFFICIAL_PASSWORD, PASSWORD, TOTP_SEED, code_at, count, id_number_for, reload
from sqlalchemy import select

from dgov.identity import login as login_uc
from dgov.identity import sessions
from dgov.identity.context import AcceptAll, IdentityContext
from dgov.identity.models import Account, LoginSession
from dgov.kernel.clock import FrozenClock
from dgov.kernel.i18n import translations
from dgov.kernel.models import OutboxMessage

AN = id_number_for(date(1990, 3, 15), "M")
COOKIE = sessions.COOKIE


@pytest.fixture(autouse=True)
def _app_uses_the_test_context(request: pytest.FixtureRequest) -> None:
    """Page tests share `id_ctx` (frozen clock, test secret) with the app, so that accounts made through
    the service and logins through the pages meet."""
    if "client" in request.fixturenames:
        request.getfixturevalue("id_web_ctx")


def vi(msgid: str, **params: Any) -> str:
    text = translations("vi").gettext(msgid)
    return text.format(**params) if params else text


def field_error(page: str, name: str) -> str | None:
    """The inline error message shown under a field (without the visually hidden "Error:" prefix)."""
    m = re.search(rf'<p class="error-message" id="{re.escape(name)}-error">(.*?)</p>', page, re.S)
    if m is None:
        return None
    return html.unescape(re.sub(r"<span[^>]*>.*?</span>", "", m.group(1), flags=re.S)).strip()


def input_names(page: str, action: str) -> set[str]:
    form = re.search(rf'<form method="post" action="{re.escape(action)}".*?</form>', page, re.S)
    assert form is not None, f"no form posting to {action}"
    return set(re.findall(r'name="([^"]+)"', form.group(0)))


async def post(client: AsyncClient, path: str, data: dict[str, str]) -> Response:
    if "csrftoken" not in client.cookies:
        await client.get("/login")
    return await client.post(path, data={**data, "csrftoken": client.cookies["csrftoken"]})


async def log_in(
    client: AsyncClient, identifier: str = AN, password: str = PASSWORD, **extra: str
) -> Response:
    field = "id_number" if identifier.isdigit() else "username"
    return await post(client, "/login", {field: identifier, "password": password, **extra})


def location(r: Response) -> tuple[str, dict[str, list[str]]]:
    assert r.status_code == 303, (r.status_code, r.text[:500])
    parts = urlsplit(r.headers["location"])
    return parts.path, parse_qs(parts.query)


def session_cookie_set(r: Response) -> bool:
    return any(
        h.startswith(f"{COOKIE}=") and not h.startswith(f'{COOKIE}="";')
        for h in r.headers.get_list("set-cookie")
    )


# --- the login form --------------------------------------------------------------------------------


async def test_the_login_form_posts_id_number_and_password(client: AsyncClient) -> None:
    r = await client.get("/login")
    assert r.status_code == 200
    assert '<html lang="vi">' in r.text
    assert input_names(r.text, "/login") == {"csrftoken", "next", "level", "id_number", "password"}
    official = await client.get("/login?official=1")
    assert input_names(official.text, "/login") == {"csrftoken", "next", "level", "username", "password"}


async def test_a_citizen_logs_in_and_gets_an_httponly_session_cookie(
    client: AsyncClient, make_citizen: Any, db: Any
) -> None:
    await make_citizen()
    r = await log_in(client, next="/account")
    assert location(r) == ("/account", {})
    [cookie] = [h for h in r.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}=")]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Path=/" in cookie
    assert "Max-Age" not in cookie and "expires" not in cookie.lower()  # a browser-session cookie
    account = await client.get("/account")
    assert account.status_code == 200
    assert "Nguyễn Văn An" in account.text and AN in account.text
    assert await count(db, LoginSession, LoginSession.level == 1) == 1


@pytest.mark.parametrize(
    ("form", "errors"),
    [
        ({"id_number": "", "password": PASSWORD}, {"id_number": "Enter your personal identification number"}),
        (
            {"id_number": "12345", "password": PASSWORD},
            {"id_number": "A personal identification number has exactly 12 digits"},
        ),
        (
            {"id_number": "00109001234x", "password": PASSWORD},
            {"id_number": "A personal identification number has exactly 12 digits"},
        ),
        ({"id_number": AN, "password": ""}, {"password": "Enter your password"}),
        (
            {"id_number": "", "password": ""},
            {"id_number": "Enter your personal identification number", "password": "Enter your password"},
        ),
        ({"username": " ", "password": PASSWORD}, {"username": "Enter your username"}),
    ],
)
async def test_field_errors_are_shown_at_their_fields_with_422(
    client: AsyncClient, make_citizen: Any, db: Any, form: dict[str, str], errors: dict[str, str]
) -> None:
    await make_citizen()
    r = await post(client, "/login", form)
    assert r.status_code == 422
    for name, msgid in errors.items():
        assert field_error(r.text, name) == vi(msgid)
        assert f'id="{name}" name="{name}"' in r.text and 'aria-invalid="true"' in r.text
    assert not session_cookie_set(r)
    assert await count(db, LoginSession) == 0


async def test_the_typed_id_number_is_kept_and_the_password_is_not(client: AsyncClient) -> None:
    r = await post(client, "/login", {"id_number": "12345", "password": "secret-typed-here"})
    assert 'value="12345"' in r.text
    assert "secret-typed-here" not in r.text


async def test_a_wrong_password_is_401_and_sets_no_session_cookie(
    client: AsyncClient, make_citizen: Any, db: Any
) -> None:
    await make_citizen()
    r = await log_in(client, password="not-the-password-2026")
    assert r.status_code == 401
    assert field_error(r.text, "id_number") == vi("The ID number or password is not correct")
    assert not session_cookie_set(r)
    assert COOKIE not in client.cookies
    assert await count(db, LoginSession) == 0
    assert (await client.get("/account")).status_code == 303


async def test_an_unknown_number_answers_exactly_like_a_wrong_password(
    client: AsyncClient, make_citizen: Any
) -> None:
    await make_citizen()
    wrong = await log_in(client, password="not-the-password-2026")
    unknown = await log_in(client, identifier=id_number_for(date(1985, 11, 2), "M", "079", "001234"))
    assert wrong.status_code == unknown.status_code == 401
    assert field_error(wrong.text, "id_number") == field_error(unknown.text, "id_number")


async def test_throttling_shows_a_429_with_retry_after(
    client: AsyncClient, make_citizen: Any, id_ctx: IdentityContext
) -> None:
    await make_citizen()
    for _ in range(5):
        assert (await log_in(client, password="not-the-password-2026")).status_code == 401
    r = await log_in(client)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "15"
    assert field_error(r.text, "id_number") == vi(
        "Too many failed attempts. Try again in {minutes} minute(s).", minutes=1
    )
    assert not session_cookie_set(r)


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
async def test_next_never_leaves_the_site(client: AsyncClient, make_citizen: Any, target: str) -> None:
    await make_citizen()
    assert location(await log_in(client, next=target)) == ("/", {})


async def test_the_login_page_sends_a_logged_in_person_on(client: AsyncClient, make_citizen: Any) -> None:
    await make_citizen()
    await log_in(client)
    assert location(await client.get("/login?next=/account")) == ("/account", {})
    # …unless the page asks for more than this login has.
    assert (await client.get("/login?next=/account&level=2")).status_code == 200


# --- the second factor -----------------------------------------------------------------------------


async def test_the_second_factor_step(
    client: AsyncClient, make_citizen: Any, id_clock: FrozenClock, db: Any
) -> None:
    await make_citizen(totp=TOTP_SEED)
    r = await log_in(client, next="/account")
    assert location(r) == ("/login/second-factor", {"next": ["/account"]})
    pending_token = client.cookies[COOKIE]
    assert (await client.get("/account")).status_code == 303  # a pending login opens nothing
    form = await client.get("/login/second-factor?next=/account")
    assert form.status_code == 200
    assert input_names(form.text, "/login/second-factor") == {"csrftoken", "next", "code"}
    bad = await post(client, "/login/second-factor", {"code": "12ab", "next": "/account"})
    assert bad.status_code == 422
    assert field_error(bad.text, "code") == vi("Enter the 6-digit code from your authenticator app")
    other = "000000" if code_at(TOTP_SEED, id_clock.now()) != "000000" else "111111"
    wrong = await post(client, "/login/second-factor", {"code": other, "next": "/account"})
    assert wrong.status_code == 401
    assert field_error(wrong.text, "code") == vi("The code is not correct or has expired")
    assert not session_cookie_set(wrong)
    ok = await post(
        client, "/login/second-factor", {"code": code_at(TOTP_SEED, id_clock.now()), "next": "/account"}
    )
    assert location(ok) == ("/account", {})
    assert client.cookies[COOKIE] != pending_token
    account = await client.get("/account")
    assert account.status_code == 200 and vi("Level {level}", level=2) in account.text
    assert await count(db, LoginSession, LoginSession.level == 2) == 1


async def test_a_code_typed_as_the_app_shows_it_is_accepted(
    client: AsyncClient, make_citizen: Any, id_clock: FrozenClock
) -> None:
    await make_citizen(totp=TOTP_SEED)
    await log_in(client, next="/account")
    code = code_at(TOTP_SEED, id_clock.now())
    r = await post(client, "/login/second-factor", {"code": f" {code[:3]} {code[3:]} ", "next": "/account"})
    assert location(r) == ("/account", {})


async def test_the_second_factor_page_without_a_pending_login_goes_back_to_login(client: AsyncClient) -> None:
    assert location(await client.get("/login/second-factor?next=/account")) == (
        "/login",
        {"next": ["/account"]},
    )
    r = await post(client, "/login/second-factor", {"code": "123456", "next": "/account"})
    assert location(r) == ("/login", {"next": ["/account"]})


async def test_level_2_asked_of_an_account_without_a_factor_leads_to_enrolment(
    client: AsyncClient, make_citizen: Any
) -> None:
    await make_citizen()
    form = await client.get("/login?level=2&next=/account")
    assert 'name="level" value="2"' in form.text
    r = await log_in(client, level="2", next="/account")
    assert location(r) == ("/account/second-factor", {"next": ["/account"], "required": ["1"]})
    page = await client.get(r.headers["location"])
    assert page.status_code == 200
    assert (
        vi("The service you asked for needs assurance level 2. Set up an authenticator app first.")
        in page.text
    )


# --- logout and the account page -------------------------------------------------------------------


async def test_account_requires_a_login(client: AsyncClient) -> None:
    assert location(await client.get("/account")) == ("/login", {"next": ["/account"]})


async def test_logout_ends_the_session_and_clears_the_cookie(
    client: AsyncClient, make_citizen: Any, id_ctx: IdentityContext
) -> None:
    await make_citizen()
    await log_in(client)
    token = client.cookies[COOKIE]
    r = await post(client, "/logout", {})
    assert location(r) == ("/", {})
    assert any(
        h.startswith(f'{COOKIE}="";') or h.startswith(f"{COOKIE}=;") for h in r.headers.get_list("set-cookie")
    )
    assert await sessions.resolve(id_ctx, token) is None
    assert COOKIE not in client.cookies
    assert (await client.get("/account")).status_code == 303


async def test_logout_needs_the_csrf_token(
    client: AsyncClient, make_citizen: Any, id_ctx: IdentityContext
) -> None:
    await make_citizen()
    await log_in(client)
    token = client.cookies[COOKIE]
    r = await client.post("/logout", data={"csrftoken": "forged"})
    assert r.status_code == 403
    assert await sessions.resolve(id_ctx, token) is not None


async def test_the_account_page_lists_the_sessions_and_ends_another_one(
    client: AsyncClient, make_citizen: Any, id_ctx: IdentityContext
) -> None:
    await make_citizen()
    other = await login_uc.password_step(
        id_ctx,
        identifier=AN,
        password=PASSWORD,
        ip="198.51.100.9",
        user_agent="Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36",
    )
    await log_in(client)
    page = (await client.get("/account")).text
    mine = sessions.token_id(client.cookies[COOKIE])
    theirs = sessions.token_id(other.token)
    assert vi("This session") in page
    assert f'action="/account/sessions/{theirs[:16]}/revoke"' in page
    assert f'action="/account/sessions/{mine[:16]}/revoke"' not in page
    assert "198.51.100.9" in page and vi("{browser} on {system}", browser="Chrome", system="Android") in page
    r = await post(client, f"/account/sessions/{theirs[:16]}/revoke", {})
    assert location(r) == ("/account", {"done": ["session"]})
    assert await sessions.resolve(id_ctx, other.token) is None
    after = (await client.get("/account")).text
    assert f"/account/sessions/{theirs[:16]}/revoke" not in after


async def test_log_out_everywhere_from_the_account_page(
    client: AsyncClient, make_citizen: Any, id_ctx: IdentityContext
) -> None:
    await make_citizen()
    other = await login_uc.password_step(id_ctx, identifier=AN, password=PASSWORD, ip=None, user_agent=None)
    await log_in(client)
    r = await post(client, "/account/logout-everywhere", {})
    assert location(r) == ("/", {})
    assert await sessions.resolve(id_ctx, other.token) is None
    assert (await client.get("/account")).status_code == 303


# --- TOTP enrolment --------------------------------------------------------------------------------


def enrolment_of(page: str) -> tuple[str, str]:
    """The key as the person would type it (shown in groups, spaces are only for reading) and the sealed
    enrolment the form carries."""
    key = re.search(r'<p class="key">.*?<code>([A-Z2-7 ]+)</code>', page, re.S)
    sealed = re.search(r'name="enrolment" value="([^"]+)"', page)
    assert key and sealed
    return key.group(1).replace(" ", ""), sealed.group(1)


async def test_totp_enrolment_shows_an_inline_qr_code_and_needs_a_fresh_login_after(
    client: AsyncClient, make_citizen: Any, id_clock: FrozenClock, id_ctx: IdentityContext, db: Any
) -> None:
    account = await make_citizen()
    await log_in(client)
    old_token = client.cookies[COOKIE]
    page = await client.get("/account/second-factor")
    assert page.status_code == 200
    qr = re.search(r'<div class="qr"[^>]*>\s*(<svg.*?</svg>)', page.text, re.S)
    assert qr is not None and 'xmlns="http://www.w3.org/2000/svg"' in qr.group(1)
    assert "<img" not in page.text.split('class="qr"')[1].split("</div>")[0]  # inline, no request out
    secret, sealed = enrolment_of(page.text)
    assert secret not in sealed
    assert input_names(page.text, "/account/second-factor") == {"csrftoken", "enrolment", "next", "code"}
    wrong = await post(
        client, "/account/second-factor", {"enrolment": sealed, "code": "000000", "next": "/account"}
    )
    assert wrong.status_code == 422
    assert field_error(wrong.text, "code") == vi("The code is not correct or has expired")
    assert (await reload(db, account.id)).totp_secret is None
    r = await post(
        client,
        "/account/second-factor",
        {"enrolment": sealed, "code": code_at(secret, id_clock.now()), "next": "/account"},
    )
    assert location(r) == ("/login", {"next": ["/account"], "level": ["2"]})
    assert (await reload(db, account.id)).totp_secret is not None
    assert await sessions.resolve(id_ctx, old_token) is None
    # The next login asks for the new factor.
    assert location(await log_in(client, next="/account"))[0] == "/login/second-factor"


async def test_an_enrolment_made_for_someone_else_is_not_accepted(
    client: AsyncClient, make_citizen: Any, id_clock: FrozenClock, db: Any
) -> None:
    await make_citizen()
    other = await make_citizen(
        birth=date(1985, 11, 2), place="079", serial="001234", full_name="Lê Văn Cường"
    )
    await log_in(client, identifier=other.id_number or "")
    secret, sealed = enrolment_of((await client.get("/account/second-factor")).text)
    await post(client, "/logout", {})
    me = await log_in(client)
    assert me.status_code == 303
    r = await post(
        client,
        "/account/second-factor",
        {"enrolment": sealed, "code": code_at(secret, id_clock.now()), "next": "/account"},
    )
    assert location(r) == ("/account/second-factor", {})
    assert await count(db, Account, Account.totp_secret.is_not(None)) == 0


# --- the operator page -----------------------------------------------------------------------------


async def test_the_operator_page_asks_for_a_level_2_login(client: AsyncClient) -> None:
    r = await client.get("/operator/officials")
    assert location(r) == ("/login", {"next": ["/operator/officials"], "level": ["2"]})


async def test_an_operator_at_level_1_is_refused(client: AsyncClient, make_official: Any, db: Any) -> None:
    await make_official("quantri", role="operator", agency="DGOV", unit="*")  # no second factor
    await log_in(client, identifier="quantri", password=OFFICIAL_PASSWORD)
    r = await client.get("/operator/officials")
    assert r.status_code == 403
    assert vi("Operators must log in with their second factor (level 2)") in r.text
    posted = await post(
        client,
        "/operator/officials",
        {
            "username": "new.one",
            "agency": "BTP",
            "role": "operator",
            "unit": "*",
            "password": OFFICIAL_PASSWORD,
        },
    )
    assert posted.status_code == 403
    assert await count(db, Account) == 1


async def test_an_operator_at_level_2_manages_officials(
    client: AsyncClient, make_official: Any, id_clock: FrozenClock, db: Any
) -> None:
    await make_official("quantri", role="operator", agency="DGOV", unit="*", totp=TOTP_SEED)
    await log_in(client, identifier="quantri", password=OFFICIAL_PASSWORD)
    await post(client, "/login/second-factor", {"code": code_at(TOTP_SEED, id_clock.now()), "next": "/"})
    page = await client.get("/operator/officials")
    assert page.status_code == 200 and "quantri" in page.text
    bad = await post(
        client,
        "/operator/officials",
        {
            "username": "bad name",
            "agency": "BTP",
            "role": "king",
            "unit": "123",
            "password": OFFICIAL_PASSWORD,
        },
    )
    assert bad.status_code == 422
    assert field_error(bad.text, "username") == vi("Use letters, digits, dots, dashes or underscores")
    assert field_error(bad.text, "role") == vi("Unknown role")
    assert field_error(bad.text, "unit") == vi("Enter a province (2 digits) or commune (5 digits) code, or *")
    assert OFFICIAL_PASSWORD not in bad.text
    ok = await post(
        client,
        "/operator/officials",
        {
            "username": "hotich.badinh",
            "full_name": "Phạm Thu Hà",
            "agency": "BTP",
            "role": "civil_status_officer",
            "unit": "00004",
            "password": OFFICIAL_PASSWORD,
        },
    )
    assert location(ok) == ("/operator/officials", {"created": ["hotich.badinh"]})
    listed = (await client.get("/operator/officials?created=hotich.badinh")).text
    assert "Phạm Thu Hà" in listed and "00004" in listed
    taken = await post(
        client,
        "/operator/officials",
        {
            "username": "hotich.badinh",
            "agency": "BTP",
            "role": "civil_status_officer",
            "unit": "00004",
            "password": OFFICIAL_PASSWORD,
        },
    )
    assert taken.status_code == 422
    assert field_error(taken.text, "username") == vi("This username is already taken")


async def test_a_citizen_at_level_2_is_refused_the_operator_page(
    client: AsyncClient, make_citizen: Any, id_clock: FrozenClock
) -> None:
    await make_citizen(totp=TOTP_SEED)
    await log_in(client)
    await post(client, "/login/second-factor", {"code": code_at(TOTP_SEED, id_clock.now()), "next": "/"})
    assert (await client.get("/operator/officials")).status_code == 403


# --- registration, activation and reset pages ------------------------------------------------------


async def test_registration_with_a_bad_id_number_shows_the_error_at_the_field(
    client: AsyncClient, db: Any
) -> None:
    r = await post(
        client,
        "/register",
        {
            "id_number": "003090012345",
            "full_name": "Nguyễn Văn An",
            "birth_date": "1990-03-15",
            "sex": "M",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
    )
    assert r.status_code == 422
    assert field_error(r.text, "id_number") == vi(
        "The first three digits are not a known province or country code"
    )
    assert PASSWORD not in r.text
    assert await count(db, Account) == 0


async def test_registration_then_activation_through_the_pages(
    client: AsyncClient, db: Any, id_ctx: IdentityContext
) -> None:
    form = {
        "id_number": AN,
        "full_name": "Nguyễn Văn An",
        "birth_date": "1990-03-15",
        "sex": "M",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    id_ctx.verifier = AcceptAll(phone="0912000001")  # the contact on file
    assert location(await post(client, "/register", form)) == ("/activate", {"id_number": [AN]})
    async with db.uow(readonly=True) as uow:
        payload = (await uow.session.scalars(select(OutboxMessage.payload))).one()
    assert payload["to"] == "0912000001"
    wrong = await post(client, "/activate", {"id_number": AN, "code": "abcdef", "password": PASSWORD})
    assert wrong.status_code == 422
    assert field_error(wrong.text, "code") == vi(
        "The code or the password is not correct, or the code has expired"
    )
    code = payload["params"]["code"]
    r = await post(client, "/activate", {"id_number": AN, "code": code, "password": PASSWORD})
    assert location(r) == ("/login", {"activated": ["1"]})
    assert location(await log_in(client))[0] == "/"


async def test_the_reset_form_answers_the_same_for_any_number(client: AsyncClient, make_citizen: Any) -> None:
    await make_citizen()
    known = await post(client, "/password/forgot", {"id_number": AN})
    unknown = await post(client, "/password/forgot", {"id_number": "079085001234"})
    assert location(known) == ("/password/reset", {"id_number": [AN]})
    assert location(unknown) == ("/password/reset", {"id_number": ["079085001234"]})
    k = await post(
        client,
        "/password/reset",
        {
            "id_number": AN,
            "code": "123456",
            "password": "nguyenvanan1990",
            "password_confirm": "nguyenvanan1990",
        },
    )
    u = await post(
        client,
        "/password/reset",
        {
            "id_number": "079085001234",
            "code": "123456",
            "password": "nguyenvanan1990",
            "password_confirm": "nguyenvanan1990",
        },
    )
    assert k.status_code == u.status_code == 422
    assert (
        field_error(k.text, "code")
        == field_error(u.text, "code")
        == vi("The code is not correct or has expired")
    )
    assert field_error(k.text, "password") is None and field_error(u.text, "password") is None


# --- Vietnamese first ------------------------------------------------------------------------------

SHOWN = [
    "Enter your personal identification number",
    "A personal identification number has exactly 12 digits",
    "Enter your password",
    "Enter your username",
    "The ID number or password is not correct",
    "Too many failed attempts. Try again in {minutes} minute(s).",
    "Enter the 6-digit code from your authenticator app",
    "The code is not correct or has expired",
    "The first three digits are not a known province or country code",
    "Operators must log in with their second factor (level 2)",
    "Use letters, digits, dots, dashes or underscores",
    "Unknown role",
    "Enter a province (2 digits) or commune (5 digits) code, or *",
    "This username is already taken",
    "This session",
]


def test_the_messages_these_pages_show_have_vietnamese_translations() -> None:
    missing = [m for m in SHOWN if translations("vi").gettext(m) == m]
    assert not missing, f"untranslated in vi/LC_MESSAGES/messages.po (run scripts/i18n.sh): {missing}"
