"""Verifying a signed document as a person does: download an issued certificate from the wallet, upload
it to the public /verify page, and see it valid; change one byte and see it refused with the reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pagelog import PageLog
from playwright.async_api import Page, expect

pytestmark = pytest.mark.browser

CUONG = "079085001234"  # demo citizen without a second factor; the demo issued him a marital status paper
PASSWORD = "dan-so-mot-lan-2026"
SUBMIT = "main form.form-card button[type=submit]"


async def download_from_wallet(page: Page, tmp_path: Path) -> tuple[Path, str]:
    await page.goto("/wallet")
    await expect(page).to_have_url(re.compile(r"/login"))
    await page.get_by_label(re.compile("Personal identification|Số định danh")).fill(CUONG)
    await page.locator("#password").fill(PASSWORD)
    await page.locator(SUBMIT).click()
    await expect(page).to_have_url(re.compile(r"/wallet$"))
    row = page.locator("table.wallet-table tbody tr").first
    code = (await row.locator(".mono").first.inner_text()).strip()
    assert re.fullmatch(r"XNHN-\d{4}-[A-Z2-9]{10}", code), code
    async with page.expect_download() as info:
        await row.get_by_role("link", name=re.compile("Download|Tải")).click()
    target = tmp_path / f"{code}.pdf"
    await (await info.value).save_as(target)
    return target, code


async def test_verify_a_downloaded_certificate_then_a_tampered_copy(
    page: Page, page_log: PageLog, screenshots: Path, tmp_path: Path
) -> None:
    pdf, code = await download_from_wallet(page, tmp_path)
    assert pdf.read_bytes().startswith(b"%PDF-")

    await page.goto("/verify")
    await page.locator("#file").set_input_files(str(pdf))
    await page.locator(SUBMIT).click()
    result = page.locator("#result")
    await expect(result).to_have_class(re.compile(r"\bverify-valid\b"))
    await expect(result).to_contain_text(code)
    await expect(result).to_contain_text("Ủy ban nhân dân phường Ba Đình")
    await page.screenshot(path=str(screenshots / "verify-valid.png"), full_page=True)

    altered = bytearray(pdf.read_bytes())
    altered[len(altered) // 3] ^= 0x01  # one bit of one byte, inside the signed range
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(altered))
    await page.locator("#file").set_input_files(str(tampered))
    await page.locator(SUBMIT).click()
    await expect(result).to_have_class(re.compile(r"\bverify-invalid\b"))
    await expect(result.locator("ul.error-list li").first).to_be_visible()
    await page.screenshot(path=str(screenshots / "verify-invalid.png"), full_page=True)

    # The QR link of the same document: its registered status and a form to compare one's copy.
    await page.goto(f"/verify/{code}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text(re.compile("hôn nhân|marital", re.I))
    await page.locator("#file").set_input_files(str(pdf))
    await page.locator(SUBMIT).click()
    await expect(page.locator("#result")).to_have_class(re.compile(r"\bverify-valid\b"))
    assert page_log.off_host() == [], f"requests left the machine: {page_log.off_host()}"
    assert await page_log.csp_violations(page) == [], "CSP violations"
    assert page_log.console_errors == [], f"console errors: {page_log.console_errors}"
