"""Registry pages as their users see them, in Chromium against the real server and its demo data: an
official searches the population registry, reads a person (the current version, the record as of a
date, its history and its access log), and the person then sees on "Dữ liệu của tôi" who read them.

The official (hotich.badinh) and the citizen (Trần Thị Bình) are accounts no other browser test logs
in with: the server refuses a TOTP code it has already accepted for an account.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pagelog import PageLog
from playwright.async_api import Page, expect
from test_identity_browser import assert_clean, enter_code, log_in_with_password
from test_shell import assert_landmarks
from totpcodes import TotpCodes

from dgov.identity import demo
from dgov.kernel import clock

pytestmark = pytest.mark.browser

AN = "001090012345"
BINH = "001192034567"
PURPOSE = "Giải quyết hồ sơ đăng ký khai sinh 000.00.12.H62-260105-0001"
OFFICIAL = next(o for o in demo.OFFICIALS if o[0] == "hotich.badinh")


def citizen_seed(id_number: str) -> str:
    seed = next(c[4] for c in demo.CITIZENS if c[0] == id_number)
    assert seed is not None
    return seed


async def official_logs_in(page: Page, codes: TotpCodes) -> None:
    username, full_name, *_rest, seed = OFFICIAL
    await page.goto("/login?official=1")
    await log_in_with_password(page, username, demo.OFFICIAL_PASSWORD, official=True)
    await enter_code(page, codes.next(seed))
    await expect(page.locator(".user-name")).to_have_text(full_name)


async def search(page: Page, *, name: str = "", id_number: str = "", birth_year: str = "") -> None:
    await page.goto("/registries")
    form = page.locator("form[role=search]")
    await form.locator("#registry").select_option("population")
    await form.locator("#id_number").fill(id_number)
    await form.locator("#name").fill(name)
    await form.locator("#birth_year").fill(birth_year)
    await form.locator("#purpose").fill(PURPOSE)
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#results-title")).to_be_visible()


async def test_an_official_reads_a_person_and_the_person_sees_it(
    page: Page, page_log: PageLog, screenshots: Path, totp_codes: TotpCodes
) -> None:
    await official_logs_in(page, totp_codes)

    # A search without diacritics or capitals finds "Nguyễn Văn An" born in 1990.
    await search(page, name="nguyen van an", birth_year="1990")
    await assert_landmarks(page)
    results = page.locator("ul.results > li")
    an = results.filter(has_text=AN)
    await expect(an).to_have_count(1)
    await expect(an.locator("h3 a")).to_have_text("Nguyễn Văn An")
    await expect(an).to_contain_text("Nam")  # sex shown as a word, in Vietnamese
    await page.mouse.move(0, 0)
    await page.screenshot(path=str(screenshots / "registries-search-vi.png"), full_page=True)

    # The record: the purpose stated at the search travels with the link; the values come with their
    # source; coded values are words.
    await an.locator("h3 a").click()
    await expect(page).to_have_url(re.compile(rf"/registries/population/{AN}\?"))
    await assert_landmarks(page)
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Nguyễn Văn An")
    await expect(page.locator("main")).to_contain_text(PURPOSE)
    fields = page.locator("section[aria-labelledby=fields-title]")
    await expect(fields).to_contain_text("15/03/1990")
    await expect(fields).not_to_contain_text("alive")
    history = page.locator("section[aria-labelledby=history-title] ol.history > li")
    await expect(history).to_have_count(1)
    # The reads so far (the search, this page) are already in the person's access log.
    log = page.locator("section[aria-labelledby=log-title]")
    await expect(log).to_contain_text(OFFICIAL[1])
    await expect(log).to_contain_text(PURPOSE)
    await page.mouse.move(0, 0)
    await page.screenshot(path=str(screenshots / "registries-record-vi.png"), full_page=True)

    # As of a date: today shows the version in force; a date before the record existed says so. Today is
    # Vietnam's date (the record was created on it): the machine's UTC date is the day before from 17:00.
    as_of = page.locator("form.as-of")
    # Today in Vietnam, as the server reads the date (the machine's date differs from 17:00 UTC on).
    await as_of.locator("#as_of").fill(clock.local_today().isoformat())
    await as_of.locator("button[type=submit]").click()
    await expect(page).to_have_url(re.compile(r"as_of="))
    await expect(page.locator("#fields-title")).to_contain_text("1")
    await expect(page.locator("section[aria-labelledby=fields-title]")).to_contain_text("15/03/1990")
    await page.mouse.move(0, 0)
    await page.screenshot(path=str(screenshots / "registries-as-of-vi.png"), full_page=True)
    await expect(page.locator("form.as-of a")).to_be_visible()  # back to the current version

    # The wife's record, found by her number: her access log will name this official.
    await search(page, id_number=BINH)
    binh = page.locator("ul.results > li").filter(has_text=BINH)
    await expect(binh).to_have_count(1)
    await binh.locator("h3 a").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Trần Thị Bình")
    await assert_clean(page, page_log)

    # Bình logs in and sees, on "Dữ liệu của tôi", her records and who read them, and why.
    await page.context.clear_cookies()
    await page.goto("/login")
    await log_in_with_password(page, BINH, demo.CITIZEN_PASSWORD)
    await enter_code(page, totp_codes.next(citizen_seed(BINH)))
    await page.goto("/my-data")
    await assert_landmarks(page)
    records = page.locator("section[aria-labelledby=records-title]")
    await expect(records).to_contain_text("Trần Thị Bình")
    await expect(records).to_contain_text("20/07/1992")
    readers = page.locator("section[aria-labelledby=log-title]")
    await expect(readers).to_contain_text(OFFICIAL[1])
    await expect(readers).to_contain_text(PURPOSE)
    await page.mouse.move(0, 0)
    await page.screenshot(path=str(screenshots / "my-data-vi.png"), full_page=True)
    await assert_clean(page, page_log)
