"""Identity pages as a person uses them, in the machine's Chromium against the real server and its demo data.

Each journey that types a TOTP code has an account of its own: the server refuses a code (or an older one) it
has already accepted for that account, as it should, so two journeys sharing one could fail each other.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pyotp
import pytest
from pagelog import PageLog
from playwright.async_api import Browser, Page, expect
from test_shell import assert_landmarks
from totpcodes import TotpCodes

from dgov.identity import demo

pytestmark = pytest.mark.browser

SUBMIT = "main form.form-card button[type=submit]"
THIS_SESSION = re.compile(r"^(This session|Phiên này)$")
# Chromium logs the status of a document that answered 4xx; for a form sent back with errors that is the
# expected answer, not a fault of the page.
EXPECTED_STATUS_LOG = re.compile(
    r"^Failed to load resource: the server responded with a status of 4(01|22)\b"
)


def citizen(id_number: str) -> tuple[str, str | None]:
    """(full name, TOTP seed) of a demo citizen."""
    for number, name, _born, _sex, seed, _phone in demo.CITIZENS:
        if number == id_number:
            return name, seed
    raise LookupError(id_number)


async def assert_clean(page: Page, page_log: PageLog) -> None:
    """Nothing left the machine, nothing broke the CSP, no script failed."""
    assert page_log.off_host() == [], f"requests left the machine: {page_log.off_host()}"
    assert await page_log.csp_violations(page) == [], "CSP violations"
    errors = [m for m in page_log.console_errors if not EXPECTED_STATUS_LOG.match(m)]
    assert errors == [], f"console errors: {errors}"


async def sideways_overflow(page: Page) -> int:
    """How far the page is wider than the screen. A mobile viewport grows `innerWidth` to fit content that
    is too wide (it zooms out), so the screen's width is `clientWidth`, which does not."""
    found: int = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return found


async def active_class(page: Page) -> str:
    found: str = await page.evaluate("() => document.activeElement.className")
    return found


async def log_in_with_password(page: Page, identifier: str, password: str, *, official: bool = False) -> None:
    await page.get_by_label(
        re.compile("Username|Tên đăng nhập")
        if official
        else re.compile("Personal identification|Số định danh")
    ).fill(identifier)
    await page.locator("#password").fill(password)
    await page.locator(SUBMIT).click()


async def enter_code(page: Page, code: str) -> None:
    await expect(page).to_have_url(re.compile(r"/login/second-factor\b"))
    await expect(page.locator("#code")).to_have_attribute("autocomplete", "one-time-code")
    await page.locator("#code").fill(code)
    await page.locator(SUBMIT).click()


async def test_citizen_logs_in_with_totp_and_sees_this_session(
    page: Page, page_log: PageLog, server: str, screenshots: Path, totp_codes: TotpCodes
) -> None:
    id_number = "001090012345"
    name, seed = citizen(id_number)
    assert seed is not None
    await page.goto("/login")
    await expect(page.locator("html")).to_have_attribute("lang", "vi")
    await assert_landmarks(page)
    await log_in_with_password(page, id_number, demo.CITIZEN_PASSWORD)
    await assert_landmarks(page)
    await enter_code(page, totp_codes.next(seed))
    await expect(page).to_have_url(f"{server}/")

    # The header now says who is logged in and offers the account and logout instead of "Log in".
    user_area = page.get_by_role("banner").locator(".user-area")
    await expect(user_area.locator(".user-name")).to_have_text(name)
    await expect(user_area.get_by_role("link", name=re.compile("My account|Tài khoản"))).to_have_attribute(
        "href", "/account"
    )
    await expect(user_area.get_by_role("button", name=re.compile("Log out|Đăng xuất"))).to_be_visible()
    await expect(page.locator("a.button-login")).to_have_count(0)

    await page.goto("/account")
    await assert_landmarks(page)
    await expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("My account|Tài khoản"))
    profile = page.locator("section[aria-labelledby=profile-title]")
    await expect(profile).to_contain_text(name)
    await expect(profile).to_contain_text(id_number)
    await expect(profile.locator("dd").last).to_contain_text("2")  # assurance level of this login
    sessions = page.locator("section[aria-labelledby=sessions-title] table tbody tr")
    current = sessions.locator("td .current")
    await expect(current).to_have_count(1)
    await expect(current).to_have_text(THIS_SESSION)
    # The demo family's child under 14 is listed under the parent's account.
    children = page.locator("section[aria-labelledby=children-title]")
    await expect(children).to_contain_text(demo.CHILD[1])
    await page.mouse.move(0, 0)
    await page.screenshot(path=str(screenshots / "account-vi.png"), full_page=True)
    await assert_clean(page, page_log)

    # Logging out ends the session: the account page asks for a login again.
    await user_area.get_by_role("button", name=re.compile("Log out|Đăng xuất")).click()
    await expect(page).to_have_url(f"{server}/")
    await expect(page.locator("a.button-login")).to_be_visible()
    await page.goto("/account")
    await expect(page).to_have_url(re.compile(r"/login\?next=%2Faccount$"))


async def test_login_errors_are_summarised_focused_and_linked_to_fields(
    page: Page, page_log: PageLog, screenshots: Path
) -> None:
    await page.goto("/login")
    await page.locator("#id_number").fill("12345")
    async with page.expect_navigation() as nav:
        await page.locator(SUBMIT).click()
    response = await nav.value
    assert response is not None and response.status == 422

    await assert_landmarks(page)
    summary = page.locator(".error-summary")
    await expect(summary).to_be_visible()
    await expect(summary).to_have_attribute("role", "alert")
    assert "error-summary" in await active_class(page), "the error summary did not receive focus"
    outline = await page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused error summary shows no focus outline"
    # One link per problem, each to its field; each field says the same next to the input.
    links = summary.get_by_role("link")
    await expect(links).to_have_count(2)
    await expect(links.nth(0)).to_have_attribute("href", "#id_number")
    await expect(links.nth(1)).to_have_attribute("href", "#password")
    for name in ("id_number", "password"):
        field = page.locator(f".field:has(#{name})")
        await expect(field).to_have_class(re.compile(r"\bfield-error\b"))
        await expect(page.locator(f"#{name}")).to_have_attribute("aria-invalid", "true")
        described = await page.locator(f"#{name}").get_attribute("aria-describedby") or ""
        assert f"{name}-error" in described.split(), described
        await expect(field.locator(".error-message")).to_be_visible()
    # The red bar on the left of a field in error (GOV.UK pattern).
    bar = await page.locator(".field:has(#password)").evaluate(
        "el => [getComputedStyle(el).borderLeftStyle, parseFloat(getComputedStyle(el).borderLeftWidth)]"
    )
    assert bar[0] == "solid" and bar[1] >= 4, bar
    # What was typed stays; the password never comes back.
    await expect(page.locator("#id_number")).to_have_value("12345")
    await expect(page.locator("#password")).to_have_value("")
    await page.mouse.move(0, 0)
    await page.screenshot(path=str(screenshots / "login-errors-vi.png"), full_page=True)

    # Following a link in the summary puts the cursor in that field.
    await links.nth(1).click()
    assert (await page.evaluate("() => document.activeElement.id")) == "password"
    # Every control is a comfortable touch target.
    for selector in ("#id_number", "#password", SUBMIT):
        box = await page.locator(selector).bounding_box()
        assert box is not None and box["height"] >= 44, f"{selector} is {box} high"
    await assert_clean(page, page_log)


async def test_totp_enrolment_page_for_a_citizen_without_second_factor(
    page: Page, page_log: PageLog, server: str, screenshots: Path
) -> None:
    id_number = "079085001234"
    name, seed = citizen(id_number)
    assert seed is None
    await page.goto("/login")
    await log_in_with_password(page, id_number, demo.CITIZEN_PASSWORD)
    # Without a second factor the password alone logs in, at level 1.
    await expect(page).to_have_url(f"{server}/")
    await expect(page.locator(".user-name")).to_have_text(name)

    await page.goto("/account")
    security = page.locator("section[aria-labelledby=security-title]")
    await security.get_by_role("link").click()
    await expect(page).to_have_url(re.compile(r"/account/second-factor$"))
    await assert_landmarks(page)
    qr = page.get_by_role("img", name=re.compile("QR"))
    await expect(qr).to_be_visible()
    await expect(qr.locator("svg")).to_be_visible()
    key = (await page.locator(".key code").inner_text()).replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", key), key
    await expect(page.locator("ol.steps > li")).to_have_count(3)
    await page.mouse.move(0, 0)
    await page.screenshot(path=str(screenshots / "totp-enrol-vi.png"), full_page=True)

    # A wrong code is refused with an error on the field, and the same key is offered again.
    await page.locator("#code").fill("000000" if pyotp.TOTP(key).now() != "000000" else "111111")
    await page.locator(SUBMIT).click()
    await expect(page.locator(".error-summary")).to_be_visible()
    assert "error-summary" in await active_class(page)
    await expect(page.locator(".field:has(#code)")).to_have_class(re.compile(r"\bfield-error\b"))
    assert (await page.locator(".key code").inner_text()).replace(" ", "") == key
    await assert_clean(page, page_log)


async def test_operator_at_level_two_manages_officials(
    page: Page, page_log: PageLog, server: str, screenshots: Path, totp_codes: TotpCodes
) -> None:
    username, full_name, *_rest, seed = demo.OPERATOR
    await page.goto("/operator/officials")
    # Not logged in: sent to the login form, which says level 2 is needed; officials log in by username.
    await expect(page).to_have_url(re.compile(r"/login\?.*level=2"))
    await expect(page.locator(".notice")).to_be_visible()
    await page.get_by_role("link", name=re.compile("Officials and operators|Cán bộ")).click()
    await log_in_with_password(page, username, demo.OPERATOR_PASSWORD, official=True)
    await enter_code(page, totp_codes.next(seed))
    await expect(page).to_have_url(f"{server}/operator/officials")

    await assert_landmarks(page)
    await expect(page.locator(".user-name")).to_have_text(full_name)
    admin = page.locator(".main-nav a[href='/operator/officials']")
    await expect(admin).to_have_attribute("aria-current", "page")
    rows = page.locator("table.table tbody tr")
    await expect(rows).to_have_count(len(demo.OFFICIALS) + 1)
    for official in demo.OFFICIALS:
        await expect(rows.filter(has_text=official[0])).to_have_count(1)
    await page.mouse.move(0, 0)
    await page.screenshot(path=str(screenshots / "operator-officials-vi.png"), full_page=True)

    # No role is preselected, so an empty form comes back with errors, summary focused.
    await page.locator(SUBMIT).click()
    await expect(page.locator(".error-summary")).to_be_visible()
    assert "error-summary" in await active_class(page)
    await expect(page.locator(".field:has(#role)")).to_have_class(re.compile(r"\bfield-error\b"))

    await page.locator("#username").fill("hotich.hoankiem")
    await page.locator("#full_name").fill("Ngô Thị Hồng")
    await page.locator("#agency").fill("BTP")
    await page.locator("#role").select_option("civil_status_officer")
    await page.locator("#unit").fill("00070")
    await page.locator("#password").fill("so-ho-tich-hoan-kiem-2026")
    await page.locator(SUBMIT).click()
    await expect(page.locator(".notice.success")).to_contain_text("hotich.hoankiem")
    await expect(rows.filter(has_text="hotich.hoankiem")).to_contain_text("00070")
    await assert_clean(page, page_log)


async def test_self_registration_activation_and_enrolment(
    page: Page, page_log: PageLog, server: str, screenshots: Path, totp_codes: TotpCodes
) -> None:
    # 001 (Hà Nội), 1 = 20th century and female, 95 = born 1995: consistent with the details below.
    id_number, name, password = "001195004321", "Phạm Thị Mai", "hoa-sen-no-giua-mua-he"
    email = "pham.thi.mai@example.org"  # her e-mail on file in the population registry
    await page.goto("/register")
    await assert_landmarks(page)
    await page.locator("#id_number").fill(id_number)
    await page.locator("#full_name").fill(name)
    await page.locator("#birth_date").fill("1995-05-05")
    await page.locator("#sex").select_option("F")
    # No contact is asked for: the code goes only where the registry says.
    await expect(page.locator("#email")).to_have_count(0)
    await expect(page.locator("#phone")).to_have_count(0)
    await page.locator("#password").fill(password)
    await page.locator("#password_confirm").fill(password)
    await page.locator(SUBMIT).click()
    await expect(page).to_have_url(re.compile(rf"/activate\?id_number={id_number}$"))
    await expect(page.locator("#id_number")).to_have_value(id_number)

    # On a demo node (DGOV_DEV_MAILBOX=true) the activation page points to the developer viewer, which
    # asks for the operator's login; the code shows there once the outbox has delivered it.
    await page.locator(".notice").get_by_role("link").click()
    await expect(page).to_have_url(re.compile(r"/login\?.*next=%2Fdev%2Fmessages"))
    operator, *_rest, seed = demo.OPERATOR
    await log_in_with_password(page, operator, demo.OPERATOR_PASSWORD, official=True)
    await enter_code(page, totp_codes.next(seed))
    await expect(page).to_have_url(f"{server}/dev/messages")
    message = page.locator(".message-list > li").filter(has_text=email)
    for _ in range(60):
        if await message.count():
            break
        await asyncio.sleep(0.25)
        await page.reload()
    await expect(message).to_have_count(1)
    await assert_landmarks(page)
    await expect(message.locator(".channel")).to_have_text("EMAIL")
    body = await message.locator(".message-body").inner_text()
    found = re.search(r"\b(\d{6})\b", body)
    assert found, body
    await page.mouse.move(0, 0)
    await page.screenshot(path=str(screenshots / "dev-messages-vi.png"), full_page=True)
    await page.get_by_role("banner").get_by_role("button", name=re.compile("Log out|Đăng xuất")).click()
    await expect(page.locator("a.button-login")).to_be_visible()

    await page.goto(f"/activate?id_number={id_number}")
    await page.locator("#code").fill(found.group(1))
    await page.locator("#password").fill(password)
    await page.locator(SUBMIT).click()
    await expect(page).to_have_url(re.compile(r"/login\?activated=1$"))
    await expect(page.locator(".notice.success")).to_be_visible()
    await log_in_with_password(page, id_number, password)
    await expect(page).to_have_url(f"{server}/")

    # Enrol an authenticator; the session opened with the password alone ends, and the next login asks
    # for the code and reaches level 2.
    await page.goto("/account/second-factor")
    key = (await page.locator(".key code").inner_text()).replace(" ", "")
    await page.locator("#code").fill(totp_codes.next(key))
    await page.locator(SUBMIT).click()
    await expect(page).to_have_url(re.compile(r"/login\?.*level=2"))
    await log_in_with_password(page, id_number, password)
    # The code just used for enrolment may not be typed again: the book hands out the next step's, within
    # the one step of clock drift the server allows.
    await enter_code(page, totp_codes.next(key))
    await expect(page).to_have_url(f"{server}/account")
    await expect(page.locator("section[aria-labelledby=profile-title] dd").last).to_contain_text("2")
    await assert_clean(page, page_log)


async def test_login_and_account_fit_a_phone(browser: Browser, server: str) -> None:
    ctx = await browser.new_context(
        base_url=server,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        locale="vi-VN",
    )
    try:
        page = await ctx.new_page()
        for path in ("/login", "/register"):
            await page.goto(path)
            overflow = await sideways_overflow(page)
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a 390px-wide phone"
            await expect(page.locator("a.button-login")).to_be_visible()
            box = await page.locator(SUBMIT).bounding_box()
            assert box is not None and box["height"] >= 44
        # Logged in (password only: this citizen has no second factor), the wider pages fit as well.
        await page.goto("/login")
        await log_in_with_password(page, "079085001234", demo.CITIZEN_PASSWORD)
        await expect(page.locator(".user-area.signed-in")).to_be_visible()
        for path in ("/account", "/account/second-factor"):
            await page.goto(path)
            await expect(page.get_by_role("heading", level=1)).to_be_visible()
            overflow = await sideways_overflow(page)
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a 390px-wide phone"
    finally:
        await ctx.close()
