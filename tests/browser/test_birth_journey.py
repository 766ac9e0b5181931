"""The flagship journey in the machine's Chromium against the real server: a parent logs in with TOTP, files
the birth bundle on its once-only form, the three agencies' officials approve their branches from their own
queues, and the parent downloads the signed birth certificate from the wallet and sees /verify call it valid.

It counts what the parent had to type or choose on the form (the issue's measure: at most 8, none of it data
the registries hold), prints the count and writes it to docs/screenshots/birth-journey-fields.txt.

Every actor has a browser context of their own (their own session cookie), as different people on different
machines would. The parent (Trần Thị Bình) and the officials are accounts other browser tests may also log
in with; the server refuses a TOTP code it has already accepted for an account, so every code comes from
the session's book of codes (tests/browser/totpcodes.py), which never hands out one twice.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from datetime import timedelta
from html import escape
from pathlib import Path

import pytest
import weasyprint
from pagelog import CSP_RECORDER, PageLog
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect
from totpcodes import TotpCodes

from dgov.eservices import catalogue
from dgov.identity import demo
from dgov.kernel import clock
from dgov.kernel.clock import VN_TZ

pytestmark = pytest.mark.browser

BINH = "001192034567"
PROCEDURE = "birth-bundle"
SUBMIT = "main form.form-card button[type=submit]"
GOAL = 8
CHILD_GIVEN = "Châu"
# How long the background worker may take to run the service tasks after the last approval (generous: the
# test machine is shared and slow; the assertion is on the state reached, not on the time).
RESULT_WAIT_MS = 120_000
DOSSIER_CODE = re.compile(r"^[\w.\-]+-\d{6}-\d{4}$")
# The officials in the order they act, with the name of their queue screenshot.
AGENCIES = [("hotich.badinh", "justice"), ("cutru.badinh", "police"), ("bhyt.hanoi", "insurance")]


@dataclass
class Typist:
    """Everything the parent types or chooses on the form goes through here, so it can be counted."""

    page: Page
    typed: list[str] = field(default_factory=list)
    uploads: list[str] = field(default_factory=list)

    async def fill(self, name: str, value: str) -> None:
        await self._named(name).fill(value)
        self.typed.append(name)

    async def select(self, name: str, value: str) -> None:
        await self._named(name).select_option(value)
        self.typed.append(name)

    async def check(self, name: str, value: str) -> None:
        await self.page.locator(f'main form.es-form input[name="{name}"][value="{value}"]').check()
        self.typed.append(name)

    async def upload(self, name: str, path: Path) -> None:
        await self._named(name).set_input_files(str(path))
        self.uploads.append(name)

    def _named(self, name: str) -> Locator:
        return self.page.locator(f'main form.es-form [name="{name}"]')


def birth_notice_pdf(target: Path, child: str, born: str) -> Path:
    """A one-page birth notice (giấy chứng sinh) as a health facility would issue it: a plain PDF with no
    scripts, actions or attachments, which is what the upload check accepts."""
    html = (
        "<h1>GIẤY CHỨNG SINH</h1><p>Bệnh viện Phụ sản Hà Nội</p>"
        f"<p>Trẻ: {escape(child)}</p><p>Sinh ngày: {escape(born)}</p>"
        f"<p>Mẹ: Trần Thị Bình ({BINH})</p>"
    )
    target.write_bytes(weasyprint.HTML(string=html).write_pdf())
    return target


async def new_actor(browser: Browser, server: str) -> tuple[BrowserContext, Page, PageLog]:
    ctx = await browser.new_context(base_url=server, viewport={"width": 1280, "height": 900}, locale="vi-VN")
    await ctx.add_init_script(CSP_RECORDER)
    ctx.set_default_timeout(30_000)
    page = await ctx.new_page()
    log = PageLog()
    log.watch(page)
    return ctx, page, log


async def log_in(
    page: Page,
    identifier: str,
    password: str,
    code: str,
    *,
    official: bool,
    nxt: str,
    shot: Path | None = None,
) -> None:
    """Password, then the TOTP code (from the session's book, so never one the server already took)."""
    query = f"next={nxt}" + ("&official=1" if official else "")
    await page.goto(f"/login?{query}")
    await page.locator("#username" if official else "#id_number").fill(identifier)
    await page.locator("#password").fill(password)
    await page.locator(SUBMIT).click()
    await expect(page).to_have_url(re.compile(r"/login/second-factor\b"))
    await page.locator("#code").fill(code)
    if shot is not None:
        await page.screenshot(path=str(shot), full_page=True)
    await page.locator(SUBMIT).click()
    await expect(page).to_have_url(re.compile(re.escape(nxt) + r"$"))


def assert_clean(log: PageLog) -> None:
    assert log.off_host() == [], f"requests left the machine: {log.off_host()}"
    errors = [m for m in log.console_errors if "status of 4" not in m]
    assert errors == [], f"console errors: {errors}"


async def test_birth_bundle_journey(
    browser: Browser, server: str, screenshots: Path, tmp_path: Path, totp_codes: TotpCodes
) -> None:
    proc = catalogue.procedure(PROCEDURE)
    prefilled_paths = {rule["path"] for rule in proc.raw["form"]["prefill"]}
    name, seed = next((c[1], c[4]) for c in demo.CITIZENS if c[0] == BINH)
    assert seed is not None

    # 1. The mother logs in with her password and TOTP code (assurance level 2).
    ctx, page, log = await new_actor(browser, server)
    try:
        await log_in(
            page,
            BINH,
            demo.CITIZEN_PASSWORD,
            totp_codes.next(seed),
            official=False,
            nxt="/dich-vu-cong",
            shot=screenshots / "birth-01-login.png",
        )
        await expect(page.locator(".user-name")).to_have_text(name)
        await page.goto("/account")
        profile = page.locator("section[aria-labelledby=profile-title]")
        await expect(profile.locator("dd").last).to_contain_text("2")  # assurance level of this login
        # What her wallet holds already (the demo issued her papers), to tell the new certificate apart.
        await page.goto("/wallet")
        before = set(await page.locator("table.wallet-table .mono").all_inner_texts())
        await page.goto("/dich-vu-cong")

        # 2. The catalogue (a search without diacritics finds the bundle), the procedure, its form.
        await page.locator("#q").fill("lien thong")
        await page.locator("#q").press("Enter")
        await expect(page).to_have_url(re.compile(r"/dich-vu-cong\?"))
        link = page.locator(f'main a[href="/dich-vu-cong/{PROCEDURE}"]').first
        await link.click()
        await expect(page).to_have_url(re.compile(rf"/dich-vu-cong/{PROCEDURE}$"))
        await page.locator(f'main a[href="/dich-vu-cong/{PROCEDURE}/nop"]').first.click()
        await expect(page).to_have_url(re.compile(rf"/dich-vu-cong/{PROCEDURE}/nop$"))

        # Prefilled once-only: the parents and the household come from the registries, read-only, with
        # their source; nothing to type there.
        mother = page.locator("#f-mother-full_name")
        await expect(mother).to_have_value(name)
        await expect(mother).to_have_attribute("readonly", "")
        await expect(page.locator("#f-mother-full_name-source")).to_contain_text(re.compile(r"\S"))
        await expect(page.locator("#f-father-full_name")).to_have_value("Nguyễn Văn An")
        address = page.locator("#f-residence-address")
        await expect(address).to_have_attribute("readonly", "")
        assert (await address.input_value()).strip(), "the household's address is not prefilled"
        await expect(page.locator("#f-residence-address-source")).to_contain_text(re.compile(r"\S"))
        readonly_names = set(
            await page.locator("main form.es-form input[readonly]").evaluate_all(
                "els => els.map(e => e.name)"
            )
        )
        assert {"mother.full_name", "father.full_name", "residence.address"} <= readonly_names

        # What only the parents know: the child, where the child is registered, the clinic; and the
        # health facility's birth notice.
        born = (clock.now().astimezone(VN_TZ) - timedelta(days=2)).date()
        notice = birth_notice_pdf(
            tmp_path / "giay-chung-sinh.pdf", "Nguyen Minh Chau", born.strftime("%d/%m/%Y")
        )
        t = Typist(page)
        await t.fill("child.middle_name", "Minh")
        await t.fill("child.given_name", CHILD_GIVEN)
        await t.check("child.sex", "F")
        await t.fill("child.birth_date", born.isoformat())
        await t.fill("child.birth_place", "Bệnh viện Phụ sản Hà Nội")
        await t.check("residence.household_of", "father")
        await t.select("insurance.initial_clinic", "01-012")
        await t.upload("doc-birth_notice", notice)
        await page.mouse.move(0, 0)
        await page.screenshot(path=str(screenshots / "birth-02-form.png"), full_page=True)

        # 5. The measure: what the parent typed or chose, none of it something the registries hold.
        n = len(t.typed)
        line = (
            f"birth journey: parent typed {n} fields ({', '.join(t.typed)}); "
            f"plus {len(t.uploads)} file upload (birth notice), {n + len(t.uploads)} inputs in all; "
            f"goal <= {GOAL}"
        )
        print(line)
        (screenshots / "birth-journey-fields.txt").write_text(line + "\n")
        assert not set(t.typed) & (prefilled_paths | readonly_names), set(t.typed) & prefilled_paths
        for path in t.typed:  # nor does the page show a registry source next to any of them
            await expect(page.locator(f"#f-{path.replace('.', '-')}-source")).to_have_count(0)
        assert n <= GOAL, line

        await page.locator("#submit-dossier").click()
        await expect(page).to_have_url(re.compile(r"/ho-so/[0-9a-f-]+/bien-nhan$"))
        code = (await page.locator("#receipt-code").inner_text()).strip()
        assert DOSSIER_CODE.match(code), code
        dossier_id = page.url.rstrip("/").split("/")[-2]
        await page.mouse.move(0, 0)
        await page.screenshot(path=str(screenshots / "birth-03-receipt.png"), full_page=True)
        # The prefill reads went through the exchange: they are in her access log, naming the procedure.
        await page.goto("/my-data")
        await expect(page.locator("section[aria-labelledby=log-title]")).to_contain_text(
            f"thủ tục {proc.code}"
        )
        assert_clean(log)

        # 3. Each agency's official finds the dossier in their queue, claims their task and approves it.
        shot = 4
        for username, agency in AGENCIES:
            full_name, seed_o = next((o[1], o[5]) for o in demo.OFFICIALS if o[0] == username)
            octx, opage, olog = await new_actor(browser, server)
            try:
                await log_in(
                    opage,
                    username,
                    demo.OFFICIAL_PASSWORD,
                    totp_codes.next(seed_o),
                    official=True,
                    nxt="/can-bo",
                )
                await expect(opage.locator(".user-name")).to_have_text(full_name)
                row = opage.locator("#queue tbody tr").filter(has_text=code)
                # Work items are made when the process reaches the branch: reload until it shows.
                for _ in range(30):
                    if await row.count():
                        break
                    await asyncio.sleep(2)
                    await opage.reload()
                await expect(row.first).to_be_visible()
                await opage.mouse.move(0, 0)
                await opage.screenshot(
                    path=str(screenshots / f"birth-{shot:02d}-queue-{agency}.png"), full_page=True
                )
                shot += 1
                await row.first.locator(f'a[href="/can-bo/ho-so/{dossier_id}"]').click()
                await expect(opage).to_have_url(re.compile(rf"/can-bo/ho-so/{dossier_id}$"))
                await expect(opage.locator("#dossier-code")).to_have_text(code)
                claim = opage.locator("form[action$='/nhan'] button")
                await expect(claim).to_have_count(1)
                await claim.click()
                await expect(opage).to_have_url(re.compile(r"/can-bo\?status=mine$"))
                await opage.goto(f"/can-bo/ho-so/{dossier_id}")
                approve = opage.locator("button[name=action][value=approve]")
                await expect(approve).to_have_count(1)
                await approve.click()
                await expect(opage).to_have_url(re.compile(rf"/can-bo/ho-so/{dossier_id}$"))
                # This official has nothing left to do on the dossier.
                await expect(opage.locator("button[name=action][value=approve]")).to_have_count(0)
                if agency == "justice":
                    # The official's view says where each value came from.
                    await expect(opage.locator("#dossier-data")).to_contain_text(name)
                    await opage.mouse.move(0, 0)
                    await opage.screenshot(
                        path=str(screenshots / f"birth-{shot:02d}-dossier-{agency}.png"), full_page=True
                    )
                    shot += 1
                assert_clean(olog)
            finally:
                await octx.close()

        # 4. The mother follows the dossier until the result is issued (the service tasks run in the
        # server's background worker after the last approval).
        await page.goto(f"/ho-so/{dossier_id}")
        status = page.locator("#dossier-status")
        deadline = time.monotonic() + RESULT_WAIT_MS / 1000
        while time.monotonic() < deadline:
            if "es-status-result_issued" in (await status.get_attribute("class") or ""):
                break
            await asyncio.sleep(2)
            await page.reload()
        await expect(status).to_have_class(re.compile(r"\bes-status-result_issued\b"))
        await expect(page.locator("#dossier-code")).to_have_text(code)
        await page.mouse.move(0, 0)
        await page.screenshot(path=str(screenshots / f"birth-{shot:02d}-status.png"), full_page=True)
        shot += 1

        # The signed birth certificate is in her wallet: download it.
        await page.goto("/wallet")
        rows = page.locator("table.wallet-table").first.locator("tbody tr")
        await expect(rows.filter(has_text=re.compile("khai sinh", re.I)).first).to_be_visible()
        issued = None
        for row in await rows.filter(has_text=re.compile("khai sinh", re.I)).all():
            if (await row.locator(".mono").first.inner_text()).strip() not in before:
                issued = row
        assert issued is not None, "no new birth certificate in the mother's wallet"
        cert_code = (await issued.locator(".mono").first.inner_text()).strip()
        await page.mouse.move(0, 0)
        await page.screenshot(path=str(screenshots / f"birth-{shot:02d}-wallet.png"), full_page=True)
        shot += 1
        async with page.expect_download() as info:
            await issued.get_by_role("link", name=re.compile("Download|Tải")).click()
        cert = tmp_path / f"{cert_code}.pdf"
        await (await info.value).save_as(cert)
        assert cert.read_bytes().startswith(b"%PDF-")

        # /verify says the downloaded certificate is valid.
        await page.goto("/verify")
        await page.locator("#file").set_input_files(str(cert))
        await page.locator(SUBMIT).click()
        result = page.locator("#result")
        await expect(result).to_have_class(re.compile(r"\bverify-valid\b"))
        await expect(result).to_contain_text(cert_code)
        await expect(result).to_contain_text(f"Nguyễn Minh {CHILD_GIVEN}")
        await page.mouse.move(0, 0)
        await page.screenshot(path=str(screenshots / f"birth-{shot:02d}-verify.png"), full_page=True)
        assert_clean(log)
    finally:
        await ctx.close()
