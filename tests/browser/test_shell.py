"""The web shell as a person sees it, in the machine's Chromium against the real server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pagelog import PageLog
from playwright.async_api import Browser, Page, Route, expect

pytestmark = pytest.mark.browser

# Letters that only Vietnamese (among the two catalogues) writes: their presence means the page was
# translated, not just served with lang="vi" over English msgids.
VIETNAMESE_LETTERS = re.compile(r"[ăđơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.IGNORECASE)
HERO_EN = "Public services built around what the state already knows"


async def focused(page: Page) -> dict[str, str]:
    """Which element has keyboard focus."""
    found: dict[str, str] = await page.evaluate(
        "() => ({id: document.activeElement.id, tag: document.activeElement.tagName,"
        " href: document.activeElement.getAttribute('href') || ''})"
    )
    return found


async def assert_landmarks(page: Page) -> None:
    for role in ("banner", "main", "contentinfo"):
        await expect(page.get_by_role(role)).to_have_count(1)
    # Several navigation landmarks (language, main, footer) each need a name to be told apart.
    navs = page.get_by_role("navigation")
    assert await navs.count() >= 2
    for nav in await navs.all():
        await expect(nav).to_have_attribute("aria-label", re.compile(r"\S"))
    # One top-level heading; a vendored widget's own <h1> counts only if it was not given a lower aria-level.
    await expect(page.locator("h1:not([aria-level]), h1[aria-level='1']")).to_have_count(1)


async def test_home_is_vietnamese_first_accessible_and_switches_to_english(
    page: Page, screenshots: Path
) -> None:
    await page.goto("/")
    await expect(page.locator("html")).to_have_attribute("lang", "vi")
    await assert_landmarks(page)
    hero_vi = await page.get_by_role("heading", level=1).inner_text()
    assert hero_vi != HERO_EN and VIETNAMESE_LETTERS.search(hero_vi), f"not Vietnamese: {hero_vi!r}"
    await page.screenshot(path=str(screenshots / "home-vi.png"), full_page=True)

    # The skip link is the first stop on Tab, visible and outlined once focused, and lands focus on <main>.
    skip = page.locator(".skip-link")
    await page.keyboard.press("Tab")
    assert (await focused(page))["href"] == "#main", f"first focusable element: {await focused(page)}"
    skip_text = await skip.inner_text()
    assert VIETNAMESE_LETTERS.search(skip_text), skip_text
    box = await skip.bounding_box()
    assert box is not None and box["y"] >= 0 and box["height"] > 0, "focused skip link is off-screen"
    outline = await page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "focused skip link has no visible outline"
    await page.keyboard.press("Enter")
    assert (await focused(page))["id"] == "main", f"skip link moved focus to {await focused(page)}"

    await page.get_by_role("link", name="English").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_role("heading", level=1)).to_have_text(HERO_EN)
    await expect(page.locator(".skip-link")).to_have_text("Skip to main content")
    await page.mouse.move(0, 0)
    await page.screenshot(path=str(screenshots / "home-en.png"), full_page=True)

    # And back: the choice is a cookie, so the person's language holds on every page until changed.
    await page.get_by_role("link", name="Tiếng Việt").click()
    await expect(page.locator("html")).to_have_attribute("lang", "vi")
    await expect(page.get_by_role("heading", level=1)).to_have_text(hero_vi)


async def test_home_fits_a_phone(browser: Browser, server: str, screenshots: Path) -> None:
    ctx = await browser.new_context(
        base_url=server,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        locale="vi-VN",
    )
    try:
        page = await ctx.new_page()
        await page.goto("/")
        await expect(page.locator("html")).to_have_attribute("lang", "vi")
        overflow = await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the page scrolls sideways by {overflow}px on a 390px-wide phone"
        await expect(page.get_by_role("link", name="English")).to_be_visible()
        await expect(page.get_by_role("heading", level=1)).to_be_in_viewport()
        await page.screenshot(path=str(screenshots / "home-mobile.png"), full_page=True)
    finally:
        await ctx.close()


@pytest.mark.parametrize("path", ["/", "/docs"])
async def test_pages_stay_offline_and_within_the_csp(page: Page, page_log: PageLog, path: str) -> None:
    response = await page.goto(path, wait_until="networkidle")
    assert response is not None and response.status == 200
    assert "default-src 'self'" in (await response.header_value("content-security-policy") or "")
    if path == "/docs":
        await expect(page.locator(".swagger-ui .info")).to_be_visible()
    assert page_log.requests, "no request was seen at all"
    assert page_log.off_host() == [], f"requests left the machine: {page_log.off_host()}"
    assert page_log.failed == [], f"failed requests: {page_log.failed}"
    assert await page_log.csp_violations(page) == [], "CSP violations"
    assert page_log.console_errors == [], f"console errors: {page_log.console_errors}"


async def test_api_docs_render_from_local_assets(page: Page, page_log: PageLog, screenshots: Path) -> None:
    await page.goto("/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("dgov")
    await expect(page.locator("html")).to_have_attribute("lang", "vi")
    await assert_landmarks(page)
    vendor = [u for u in page_log.requests if "/vendor/swagger-ui" in u]
    assert len(vendor) == 2, f"Swagger UI was not loaded from /vendor: {page_log.requests}"
    await page.mouse.move(0, 0)
    await page.screenshot(path=str(screenshots / "api-docs.png"))


async def test_unknown_page_is_a_translated_404(page: Page, page_log: PageLog) -> None:
    response = await page.goto("/khong-co-trang-nay")
    assert response is not None and response.status == 404
    assert (await response.header_value("content-type") or "").startswith("text/html")
    await expect(page.locator("html")).to_have_attribute("lang", "vi")
    await assert_landmarks(page)
    title_vi = await page.get_by_role("heading", level=1).inner_text()
    assert title_vi != "Not found" and VIETNAMESE_LETTERS.search(title_vi), title_vi
    await expect(page.locator(".error-code")).to_contain_text("404")
    await expect(page.get_by_role("main").get_by_role("link").last).to_have_attribute("href", "/")
    assert await page_log.csp_violations(page) == []

    await page.get_by_role("link", name="English").click()
    response = await page.goto("/no-such-page")
    assert response is not None and response.status == 404
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    await expect(page.locator(".error-code")).to_have_text("Error 404")
    await expect(page.get_by_role("link", name="Back to the home page")).to_have_attribute("href", "/")


async def test_csp_recorder_catches_a_violation(page: Page, page_log: PageLog, server: str) -> None:
    """The CSP checks above can fail: an inline script on a page served with our CSP is reported."""

    async def probe(route: Route) -> None:
        await route.fulfill(
            status=200,
            content_type="text/html",
            headers={"Content-Security-Policy": "default-src 'self'; script-src 'self'"},
            body="<!doctype html><title>probe</title><script>document.title = 'ran'</script>",
        )

    await page.route(f"{server}/__csp_probe", probe)
    await page.goto("/__csp_probe")
    assert await page.title() == "probe"
    assert await page_log.csp_violations(page), "an inline script under script-src 'self' was not reported"


def test_off_host_flags_anything_but_the_server() -> None:
    log = PageLog(
        requests=[
            "http://127.0.0.1:8000/",
            "data:image/png;base64,AAAA",
            "about:blank",
            "https://cdn.example.com/x.js",
            "http://localhost:8000/",
            "http://127.0.0.2/",
        ]
    )
    assert log.off_host() == ["https://cdn.example.com/x.js", "http://localhost:8000/", "http://127.0.0.2/"]
